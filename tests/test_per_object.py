"""benchmarks/per_object.py: per-object outcomes from a bench report, and its two statistics."""

from __future__ import annotations

import numpy as np
import pytest

from daml.data import episode_path, load_episode


@pytest.fixture(scope="module")
def per_object(benchmark_script):
    with benchmark_script("per_object") as module:
        yield module


def test_outcomes_are_grouped_by_each_episodes_target_object(per_object, tmp_path, daml_collect):
    data = tmp_path / "push_test"
    assert daml_collect(data, task="push", split="test", variations=3) == 0
    pairs = [(v, t) for v in range(3) for t in range(2)]
    cell = {"episodes": [{"variation": v, "trial": t, "success": v != t} for v, t in pairs]}
    report = {"results": {"daml": {"push": cell}, "bc": {"push": {"not_run": "no checkpoint"}}}}
    outcomes = per_object.per_object_outcomes(report, "push", "daml", data)
    expected: dict[int, list[bool]] = {}
    for episode in cell["episodes"]:
        variation = load_episode(episode_path(data, episode["variation"])).variation["variation"]
        target = variation["object_ids"][variation["target_index"]]
        expected.setdefault(target, []).append(episode["success"])
    assert outcomes == expected and sum(len(v) for v in outcomes.values()) == 6
    with pytest.raises(SystemExit, match="bc did not run on push"):
        per_object.per_object_outcomes(report, "push", "bc", data)


def test_dispersion_and_the_worst_tenths_share(per_object):
    episodes = np.full(20, 10)
    even = np.full(20, 8)  # every object at the pooled rate: no spread
    assert per_object.dispersion(even, episodes) == 0.0
    assert per_object.dispersion(np.full(20, 10), episodes) == 0.0  # all solved
    uneven = even.copy()
    uneven[:2], uneven[2:4] = 0, 10  # two objects never solved
    assert per_object.dispersion(uneven, episodes) > 40
    # the worst tenth (2 of 20 objects) holds the 20 failures of the two unsolved objects
    failures = (episodes - uneven).sum()
    assert per_object.worst_tenth_failure_share(uneven, episodes) == pytest.approx(20 / failures)
    assert per_object.worst_tenth_failure_share(episodes, episodes) == 0.0
