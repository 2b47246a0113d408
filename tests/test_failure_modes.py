"""benchmarks/failure_modes.py: how it sorts a rollout, and the target's progress to its goal."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import sim
from sim.tasks.push import GOAL_RADIUS_M, PUSH_MAX_M, PUSH_MIN_M


@pytest.fixture(scope="module")
def failure_modes(benchmark_script):
    with benchmark_script("failure_modes") as module:
        yield module


@pytest.fixture(scope="module")
def push_env():
    with sim.make_env("push") as env:
        yield env


class Replay:
    """A policy that plays back recorded actions, one per step."""

    def __init__(self, actions: np.ndarray) -> None:
        self.actions, self.step = actions, 0

    def act(self, image: np.ndarray, state: np.ndarray) -> np.ndarray:
        action = self.actions[min(self.step, len(self.actions) - 1)]
        self.step += 1
        return action


def test_the_experts_push_succeeds_and_reaches_its_goal(failure_modes, push_env):
    variation = sim.sample_variation("push", "train", np.random.default_rng(100))
    demo = sim.robot_demo(push_env, variation, seed=3)
    assert demo["success"]
    case = SimpleNamespace(reset_seed=3, variation=variation)
    rollout = failure_modes.classify(push_env, Replay(demo["actions"]), case)
    assert rollout.outcome == "success"
    assert rollout.descents == 1  # one push
    # the expert stops 0.8 cm short and the object slides on: 0.94-1.12 over six demos
    assert rollout.progress == pytest.approx(1.0, abs=0.25)
    assert 0 < rollout.advanced_step < push_env.episode_steps
    assert rollout.final_distance < GOAL_RADIUS_M  # what success thresholds


def test_a_policy_that_holds_still_moves_nothing(failure_modes, push_env):
    variation = sim.sample_variation("push", "train", np.random.default_rng(101))
    case = SimpleNamespace(reset_seed=4, variation=variation)
    still = Replay(np.array([[0.0, 0.0, 0.0, -1.0]], dtype=np.float32))
    rollout = failure_modes.classify(push_env, still, case)
    assert rollout.outcome == "nothing moved"
    assert rollout.descents == 0
    assert rollout.closings == 0
    assert abs(rollout.progress) < failure_modes.ADVANCE_FRACTION
    assert rollout.advanced_step == -1
    # the target never left its start, so it ends a whole push away from its goal (the push's
    # length is drawn between these, from the target's base; its box centre may sit ~1 cm off)
    assert PUSH_MIN_M - 0.02 < rollout.final_distance < PUSH_MAX_M + 0.02


def test_a_pusher_that_comes_down_again_is_counted(failure_modes, push_env):
    variation = sim.sample_variation("push", "train", np.random.default_rng(130))
    recovered = sim.robot_demo(push_env, variation, seed=5, action_noise=0.3, push_retries=2)
    assert recovered["retried"]
    z = recovered["states"][:, 2]
    low = z < failure_modes.LOW_Z_M
    assert int(np.sum(low[1:] & ~low[:-1])) >= 2  # the demo itself pushes twice
    down, up = [0.0, 0.0, -1.0, 1.0], [0.0, 0.0, 1.0, 1.0]
    actions = np.array([down] * 6 + [up] * 3 + [down] * 6, dtype=np.float32)
    case = SimpleNamespace(reset_seed=5, variation=variation)
    assert failure_modes.classify(push_env, Replay(actions), case).descents == 2


def test_the_final_distance_summary_splits_failures_from_successes(failure_modes):
    final = {name: [] for name in failure_modes.OUTCOMES}
    final["success"] = [0.01, 0.02, 0.03]
    final["target moved, imprecise"] = [0.06]
    final["nothing moved"] = [0.12]
    line = failure_modes.final_distance_summary(final)
    assert "failures (2) 6.6 / 7.5 / 9.0 / 10.5 / 11.4" in line
    assert "successes (3) 1.2 / 1.5 / 2.0 / 2.5 / 2.8" in line
    empty = failure_modes.final_distance_summary({name: [] for name in failure_modes.OUTCOMES})
    assert empty.endswith("no episodes")
