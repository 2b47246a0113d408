"""Object pool and variations: disjoint splits, round trips, bad input, low-poly Panda asset."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.lowpoly import lowpoly_panda_urdf
from sim.objects import POOL_PATH, pool_object, split_ids


def test_object_splits_are_disjoint_and_cover_the_pool() -> None:
    splits = {name: set(sim.object_split(name)) for name in sim.SPLITS}
    assert all(len(ids) >= 40 for ids in splits.values())
    assert not splits["train"] & splits["val"]
    assert not splits["train"] & splits["test"]
    assert not splits["val"] & splits["test"]
    pool = json.loads(POOL_PATH.read_text())
    assert set().union(*splits.values()) == {int(i) for i in pool["objects"]}


def test_split_is_deterministic() -> None:
    kept = list(range(0, 300, 3))
    assert split_ids(kept) == split_ids(list(reversed(kept)))


def test_sampled_variations_use_only_their_split() -> None:
    rng = np.random.default_rng(0)
    for split in sim.SPLITS:
        allowed = set(sim.object_split(split))
        for task in sim.TASKS:
            for _ in range(20):
                variation = sim.sample_variation(task, split, rng)
                assert set(variation.object_ids) <= allowed
                assert 2 <= len(variation.object_ids) <= 4


def test_variation_round_trip_through_json() -> None:
    variation = sim.sample_variation("push", "val", np.random.default_rng(3))
    again = sim.Variation.from_dict(json.loads(json.dumps(variation.to_dict())))
    assert again == variation


def test_bad_split_and_task_raise_with_the_choices() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(sim.SimError, match="train, val, test"):
        sim.sample_variation("push", "training", rng)
    with pytest.raises(sim.SimError, match="train, val, test"):
        sim.object_split("holdout")
    with pytest.raises(sim.SimError, match="pick_place, push"):
        sim.sample_variation("stack", "train", rng)


def test_bad_variations_raise() -> None:
    good = sim.sample_variation("pick_place", "train", np.random.default_rng(0)).to_dict()
    with pytest.raises(sim.SimError, match="target_index"):
        sim.Variation.from_dict({**good, "target_index": 9})
    with pytest.raises(sim.SimError, match="slot_colors"):
        sim.Variation.from_dict({**good, "slot_colors": ["red", "red"]})
    with pytest.raises(sim.SimError, match="bad variation"):
        sim.Variation.from_dict({"task": "push"})
    with pytest.raises(sim.SimError, match="not in the object pool"):
        pool_object(168)  # random_urdfs/168 has a broken mesh


def test_lowpoly_panda_uses_only_absolute_collision_meshes() -> None:
    text = Path(lowpoly_panda_urdf()).read_text()
    meshes = re.findall(r'filename="([^"]+)"', text)
    assert len(meshes) >= 20
    assert all(m.startswith("/") and "/meshes/collision/" in m for m in meshes)
