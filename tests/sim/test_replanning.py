"""The pick_place expert re-planned from any state (sim.replanning, robot_demo(labels=
"replan")): it does the task on its own, with DART noise, and after a learner's missed grasp;
its labels for a learner's states are the corrections (open after closing on nothing, do not
close above the object), where the time-indexed plan's are not."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.errors import SimError
from sim.experts import CLOSE, EMPTY_GAP_M, OPEN, grasp_waypoints, plan
from sim.replanning import ReplanningExpert


@pytest.fixture(scope="module")
def env():
    with sim.make_env("pick_place", sim.EnvConfig(image_px=32)) as env:
        yield env


def _variations(count: int, seed: int = 11) -> list:
    rng = np.random.default_rng(seed)
    return [sim.sample_variation("pick_place", "train", rng) for _ in range(count)]


def _drive(env, variation, seed: int, driver) -> dict:
    """Run one episode with `driver(t, obs) -> action`; the replanner labels alongside."""
    return sim.robot_demo(
        env, variation, seed=seed, execute=_Clock(driver), labels="replan", descent_steps=8
    )


class _Clock:
    """execute= callable that also tells the driver the step."""

    def __init__(self, driver) -> None:
        self.driver, self.t = driver, 0

    def __call__(self, obs: dict) -> np.ndarray:
        action = self.driver(self.t, obs)
        self.t += 1
        return action


def test_the_replanning_expert_alone_does_the_task(env) -> None:
    outcomes = [
        sim.robot_demo(env, v, seed=i, labels="replan", descent_steps=8)["success"]
        for i, v in enumerate(_variations(4))
    ]
    assert outcomes == [True] * 4


def test_with_dart_noise_it_mostly_still_does(env) -> None:
    # measured on 30 train variations (session 44): 27 with noise 0.2, the plan's expert 28
    outcomes = [
        sim.robot_demo(env, v, seed=i, labels="replan", action_noise=0.2)["success"]
        for i, v in enumerate(_variations(4, seed=12))
    ]
    assert sum(outcomes) >= 3


def test_after_a_learner_misses_its_grasp_the_labels_open_and_grasp_again(env) -> None:
    """A learner that closes 4 cm off the target, lifts the empty gripper and waits: the labels
    open the fingers and lead back to the target; following them from there succeeds."""
    variation = _variations(1, seed=13)[0]
    obs, _ = env.reset(seed=0, variation=variation)
    lo, hi = env.scene.target_bounds(env.bullet)
    grasp = np.asarray(grasp_waypoints(lo, hi)[1].position)
    miss = grasp + np.array([0.04, 0.0, 0.0])
    follower = {}

    def learner(t: int, obs: dict) -> np.ndarray:
        ee = obs["state"][:3]
        if t < 14:  # down onto the wrong spot, then close there
            step = np.clip((miss - ee) / 0.06, -0.75, 0.75)
            return np.append(step, CLOSE if t >= 11 else OPEN).astype(np.float32)
        if t < 18:  # lift the empty gripper
            return np.array([0.0, 0.0, 0.75, CLOSE], np.float32)
        if "expert" not in follower:  # then hand over to the replanner from this state
            follower["expert"] = ReplanningExpert(env, descent_steps=8)
        return follower["expert"].label(obs["state"])

    demo = _drive(env, variation, 0, learner)
    states, labels = demo["states"], demo["actions"]
    closed_on_nothing = int(np.argmax(states[:, 3] < EMPTY_GAP_M))
    assert 11 < closed_on_nothing < 18
    assert np.all(labels[closed_on_nothing:18, 3] == OPEN)  # open, not "carry to the tray"
    assert demo["success"]
    # the time-indexed plan, by contrast, says close and carry over these steps
    planned = plan(env, states[0, :3].astype(np.float64), descent_steps=8)
    assert np.any(planned.grippers[closed_on_nothing:18] == CLOSE)


def test_a_late_learner_is_told_to_descend_not_to_close(env) -> None:
    """A learner still hovering above the target when the plan closes: the labels descend with
    the fingers open."""
    variation = _variations(1, seed=14)[0]
    obs, _ = env.reset(seed=1, variation=variation)
    lo, hi = env.scene.target_bounds(env.bullet)
    above = np.asarray(grasp_waypoints(lo, hi)[0].position)
    planned = plan(env, obs["state"][:3].astype(np.float64), descent_steps=8)
    first_close = int(np.argmax(planned.grippers == CLOSE))

    def hover(t: int, obs: dict) -> np.ndarray:
        step = np.clip((above - obs["state"][:3]) / 0.06, -0.75, 0.75)
        return np.append(step, OPEN).astype(np.float32)

    demo = _drive(env, variation, 1, hover)
    labels = demo["actions"][first_close : first_close + 4]
    assert np.all(labels[:, 3] == OPEN) and np.all(labels[:, 2] < -0.1)


@pytest.mark.parametrize(
    ("task", "options", "message"),
    [
        ("pick_place", {"labels": "bogus"}, "labels='bogus' must be 'plan' or 'replan'"),
        ("push", {"labels": "replan"}, "labels='replan' is for pick_place"),
        ("pick_place", {"labels": "replan", "miss_m": 0.03}, "labels='replan' is for pick_place"),
    ],
)
def test_bad_labels_are_a_clear_error(task, options, message) -> None:
    variation = sim.sample_variation(task, "train", np.random.default_rng(0))
    with sim.make_env(task, sim.EnvConfig(image_px=32)) as env:
        with pytest.raises(SimError, match=message):
            sim.robot_demo(env, variation, seed=0, **options)
