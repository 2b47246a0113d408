"""benchmarks/failure_modes.py: how it sorts a rollout, and the target's progress to its goal."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import sim


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
    outcome, *_, closings, progress, advanced, descents = failure_modes.classify(
        push_env, Replay(demo["actions"]), case
    )
    assert outcome == "success"
    assert descents == 1  # one push
    # the expert stops 0.8 cm short and the object slides on: 0.94-1.12 over six demos
    assert progress == pytest.approx(1.0, abs=0.25)
    assert 0 < advanced < push_env.episode_steps


def test_a_policy_that_holds_still_moves_nothing(failure_modes, push_env):
    variation = sim.sample_variation("push", "train", np.random.default_rng(101))
    case = SimpleNamespace(reset_seed=4, variation=variation)
    still = Replay(np.array([[0.0, 0.0, 0.0, -1.0]], dtype=np.float32))
    outcome, *_, closings, progress, advanced, descents = failure_modes.classify(
        push_env, still, case
    )
    assert outcome == "nothing moved"
    assert descents == 0
    assert closings == 0
    assert abs(progress) < failure_modes.ADVANCE_FRACTION
    assert advanced == -1


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
    *_, descents = failure_modes.classify(push_env, Replay(actions), case)
    assert descents == 2
