"""Human-like demonstrator: frames only, exactly T of them, robot out of view, disjoint looks."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.avatar import HUE_BANDS


@pytest.fixture(scope="module", params=sim.TASKS)
def env(request):
    with sim.make_env(request.param) as env:
        yield env


def test_human_demo_is_frames_only_with_exactly_t_frames(env) -> None:
    rng = np.random.default_rng(7)
    variation = sim.sample_variation(env.task, "train", rng)
    demo = sim.human_demo(env, variation, sim.sample_look("train", rng), seed=1)
    assert set(demo) == {"frames", "avatar_masks", "success"}
    assert demo["frames"].shape == (env.episode_steps, 64, 64, 3)
    assert demo["frames"].dtype == np.uint8
    assert demo["avatar_masks"].shape == (env.episode_steps, 64, 64)
    assert demo["avatar_masks"].dtype == np.bool_
    assert isinstance(demo["success"], bool)


def test_avatar_masks_are_exactly_the_pixels_its_colour_reaches(env) -> None:
    """Two demos that differ only in the avatar's colour differ exactly inside its masks."""
    rng = np.random.default_rng(10)
    variation = sim.sample_variation(env.task, "train", rng)
    look = sim.sample_look("train", rng)
    recoloured = sim.AvatarLook(color=(0.9, 0.1, 0.8), shape=look.shape, size=look.size)
    first = sim.human_demo(env, variation, look, seed=3)
    second = sim.human_demo(env, variation, recoloured, seed=3)
    masks = first["avatar_masks"]
    assert np.array_equal(masks, second["avatar_masks"])
    assert masks.any(axis=(1, 2)).mean() > 0.8  # the hand is in view most of the time
    changed = np.any(first["frames"] != second["frames"], axis=-1)
    assert not changed[~masks].any()
    assert changed[masks].mean() > 0.95


def test_human_demo_accomplishes_the_task_and_looks_different(env) -> None:
    rng = np.random.default_rng(8)
    results = []
    for k in range(3):
        variation = sim.sample_variation(env.task, "train", rng)
        look = sim.sample_look("train", rng)
        human = sim.human_demo(env, variation, look, seed=k)
        robot = sim.robot_demo(env, variation, seed=k)
        results.append(human["success"])
        # Different body, camera jitter and light: the videos differ in most pixels.
        changed = np.any(human["frames"] != robot["frames"], axis=-1).mean()
        assert changed > 0.3
    assert sum(results) >= 2


def test_human_demo_is_deterministic(env) -> None:
    rng = np.random.default_rng(9)
    variation = sim.sample_variation(env.task, "val", rng)
    look = sim.sample_look("val", rng)
    first = sim.human_demo(env, variation, look, seed=5)["frames"]
    second = sim.human_demo(env, variation, look, seed=5)["frames"]
    assert first.tobytes() == second.tobytes()


def test_train_val_test_looks_are_disjoint() -> None:
    rng = np.random.default_rng(0)
    hues = {split: [sim.sample_look(split, rng).hue for _ in range(300)] for split in sim.SPLITS}
    for split, values in hues.items():
        low, high = HUE_BANDS[split]
        assert all(low - 1e-3 <= h <= high + 1e-3 for h in values), split
    assert max(hues["train"]) < min(hues["val"]) <= max(hues["val"]) < min(hues["test"])
    looks = {split: {sim.sample_look(split, rng) for _ in range(50)} for split in sim.SPLITS}
    assert not looks["train"] & looks["test"]
    assert {look.shape for look in looks["test"]} == {"box", "capsule", "cylinder"}


def test_look_round_trip_and_bad_looks() -> None:
    look = sim.sample_look("test", np.random.default_rng(1))
    assert sim.AvatarLook.from_dict(look.to_dict()) == look
    with pytest.raises(sim.SimError, match="shape"):
        sim.AvatarLook(color=(0.1, 0.2, 0.3), shape="sphere", size=1.0)
    with pytest.raises(sim.SimError, match="color"):
        sim.AvatarLook(color=(2.0, 0.2, 0.3), shape="box", size=1.0)
    with pytest.raises(sim.SimError, match="split"):
        sim.sample_look("holdout", np.random.default_rng(0))
