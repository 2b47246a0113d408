"""Scripted expert: demo shapes and action contract, and its success rate on train variations."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.experts import DESCENT_STEPS, PUSHER_HALF_M, plan

# An honest bar for a sample of 10 when the measured rate is >= 95% (benchmarks/sim_speed.py).
MIN_SUCCESSES_OF_10 = 9


@pytest.fixture(scope="module", params=sim.TASKS)
def env(request):
    with sim.make_env(request.param) as env:
        yield env


def test_robot_demo_has_t_steps_and_follows_the_action_contract(env) -> None:
    variation = sim.sample_variation(env.task, "train", np.random.default_rng(100))
    demo = sim.robot_demo(env, variation, seed=3)
    t = env.episode_steps
    assert demo["frames"].shape == (t, 64, 64, 3) and demo["frames"].dtype == np.uint8
    assert demo["states"].shape == (t, 4) and demo["states"].dtype == np.float32
    assert demo["actions"].shape == (t, 4) and demo["actions"].dtype == np.float32
    assert np.all(np.abs(demo["actions"][:, :3]) <= 1.0)
    assert set(np.unique(demo["actions"][:, 3])) <= {-1.0, 1.0}
    assert isinstance(demo["success"], bool)


def test_demo_states_are_observations_before_each_action(env) -> None:
    variation = sim.sample_variation(env.task, "train", np.random.default_rng(101))
    demo = sim.robot_demo(env, variation, seed=4)
    obs, _ = env.reset(seed=4, variation=variation)
    np.testing.assert_array_equal(demo["frames"][0], obs["image"])
    np.testing.assert_array_equal(demo["states"][0], obs["state"])
    obs, *_ = env.step(demo["actions"][0])
    np.testing.assert_array_equal(demo["states"][1], obs["state"])


def test_expert_succeeds_on_train_variations(env) -> None:
    rng = np.random.default_rng(2024)
    successes = [
        sim.robot_demo(env, sim.sample_variation(env.task, "train", rng), seed=k)["success"]
        for k in range(10)
    ]
    assert sum(successes) >= MIN_SUCCESSES_OF_10, successes


def test_dart_noise_perturbs_execution_but_labels_stay_the_experts(env) -> None:
    variation = sim.sample_variation(env.task, "train", np.random.default_rng(102))
    clean = sim.robot_demo(env, variation, seed=5)
    np.testing.assert_array_equal(
        sim.robot_demo(env, variation, seed=5, action_noise=0.0)["states"], clean["states"]
    )
    noisy = sim.robot_demo(env, variation, seed=5, action_noise=0.3)
    again = sim.robot_demo(env, variation, seed=5, action_noise=0.3)
    np.testing.assert_array_equal(noisy["states"], again["states"])  # seeded
    assert not np.array_equal(noisy["states"], clean["states"])
    assert np.all(np.abs(noisy["actions"][:, :3]) <= 1.0)
    # the recorded action is not what was executed: replaying it does not give the next state
    obs, _ = env.reset(seed=5, variation=variation)
    np.testing.assert_array_equal(obs["state"], noisy["states"][0])
    obs, *_ = env.step(noisy["actions"][0])
    assert not np.allclose(obs["state"][:3], noisy["states"][1][:3], atol=1e-4)


def test_another_policy_can_drive_while_the_expert_labels(env) -> None:
    """execute= (DAgger): the arm does what the driving policy says; the labels are what the
    expert would do from each state that policy reached."""
    variation = sim.sample_variation(env.task, "train", np.random.default_rng(103))
    seen = []

    def rise(obs) -> np.ndarray:  # a learner that only ever moves up
        seen.append(obs["state"].copy())
        return np.array([0.0, 0.0, 1.0, -1.0], np.float32)

    driven = sim.robot_demo(env, variation, seed=6, execute=rise)
    np.testing.assert_array_equal(np.stack(seen), driven["states"])  # it saw every state
    assert np.all(np.diff(driven["states"][:, 2]) >= -1e-4)  # and the arm only went up
    assert driven["success"] is False
    clean = sim.robot_demo(env, variation, seed=6)
    np.testing.assert_array_equal(driven["states"][0], clean["states"][0])
    np.testing.assert_array_equal(driven["actions"][0], clean["actions"][0])  # same start
    assert np.any(driven["actions"][:, 2] < -0.5)  # the expert keeps asking to go down
    # the expert's labels from the states the driver reached: not the driver's actions
    assert not np.allclose(driven["actions"][:, 2], 1.0)


def test_a_bad_driving_policy_is_a_clear_error(env) -> None:
    variation = sim.sample_variation(env.task, "train", np.random.default_rng(104))
    for bad in (np.zeros(3), np.array([0.0, 0.0, np.nan, 1.0])):
        with pytest.raises(sim.SimError, match="execute must return a finite action"):
            sim.robot_demo(env, variation, seed=0, execute=lambda obs, bad=bad: bad)
    if env.task == "pick_place":
        with pytest.raises(sim.SimError, match="cannot be combined with execute"):
            sim.robot_demo(env, variation, seed=0, miss_m=0.03, execute=lambda obs: np.zeros(4))


def test_bad_action_noise_is_a_clear_error(env) -> None:
    variation = sim.sample_variation(env.task, "train", np.random.default_rng(0))
    for bad in (-0.1, float("nan")):
        with pytest.raises(sim.SimError, match="action_noise"):
            sim.robot_demo(env, variation, seed=0, action_noise=bad)


def test_plan_is_time_parameterised_to_exactly_t(env) -> None:
    obs, _ = env.reset(seed=0)
    trajectory = plan(env, obs["state"][:3].astype(np.float64), PUSHER_HALF_M)
    assert trajectory.positions.shape == (env.episode_steps + 1, 3)
    assert trajectory.grippers.shape == (env.episode_steps,)
    np.testing.assert_array_equal(trajectory.positions[-1], trajectory.positions[-2])


def test_too_short_episode_is_a_clear_error() -> None:
    with sim.make_env("pick_place", sim.EnvConfig(episode_steps=10)) as env:
        variation = sim.sample_variation("pick_place", "train", np.random.default_rng(0))
        with pytest.raises(sim.SimError, match="episode_steps=10"):
            sim.robot_demo(env, variation, seed=0)


def test_missed_grasp_demo_shows_the_recovery_with_clean_labels() -> None:
    with sim.make_env("pick_place") as env:
        variation = sim.sample_variation("pick_place", "train", np.random.default_rng(100))
        clean = sim.robot_demo(env, variation, seed=100)
        np.testing.assert_array_equal(
            sim.robot_demo(env, variation, seed=100, miss_m=0.0)["states"], clean["states"]
        )
        assert clean["success"] and not clean["retried"]
        missed = sim.robot_demo(env, variation, seed=100, miss_m=0.035)
        again = sim.robot_demo(env, variation, seed=100, miss_m=0.035)
    np.testing.assert_array_equal(missed["states"], again["states"])  # seeded
    assert missed["success"] and missed["retried"]
    assert missed["actions"].shape == clean["actions"].shape
    assert np.all(np.abs(missed["actions"][:, :3]) <= 1.0)
    closing = missed["actions"][:, 3] > 0
    starts = np.flatnonzero(closing[1:] & ~closing[:-1]) + 1
    assert len(starts) == 2  # the missed grasp, then the one that holds
    first_open = starts[0] + np.argmax(~closing[starts[0] :])
    # the fingers closed on nothing (gap ~0) when the expert chose to open them again
    assert missed["states"][first_open, 3] < 0.01
    # up to the miss the labels are the clean plan's (toward the real target), not what ran
    np.testing.assert_array_equal(missed["actions"][0], clean["actions"][0])
    assert not np.allclose(missed["states"][starts[0], :2], clean["states"][starts[0], :2])


def test_bad_miss_is_a_clear_error() -> None:
    with sim.make_env("push") as env:
        variation = sim.sample_variation("push", "train", np.random.default_rng(0))
        with pytest.raises(sim.SimError, match="miss_m is for pick_place"):
            sim.robot_demo(env, variation, seed=0, miss_m=0.03)
        with pytest.raises(sim.SimError, match="miss_m"):
            sim.robot_demo(env, variation, seed=0, miss_m=float("nan"))


def test_slower_descent_spends_more_steps_near_the_grasp() -> None:
    with sim.make_env("pick_place") as env:
        variation = sim.sample_variation("pick_place", "train", np.random.default_rng(100))
        fast = sim.robot_demo(env, variation, seed=100)
        np.testing.assert_array_equal(
            sim.robot_demo(env, variation, seed=100, descent_steps=DESCENT_STEPS)["states"],
            fast["states"],
        )
        slow = sim.robot_demo(env, variation, seed=100, descent_steps=6)
    assert fast["success"] and slow["success"]
    assert slow["actions"].shape == fast["actions"].shape

    def frames_near_the_grasp(demo) -> int:
        """Frames before the close with the hand less than 9 cm above where it closes."""
        close = int(np.argmax(demo["actions"][:, 3] > 0))
        heights = demo["states"][:close, 2] - demo["states"][close, 2]
        return int(np.sum(heights < 0.09))

    near_fast, near_slow = frames_near_the_grasp(fast), frames_near_the_grasp(slow)
    assert near_slow >= near_fast + 3, (near_fast, near_slow)


def test_bad_descent_steps_is_a_clear_error() -> None:
    with sim.make_env("push") as env:
        variation = sim.sample_variation("push", "train", np.random.default_rng(0))
        with pytest.raises(sim.SimError, match="descent_steps is for pick_place"):
            sim.robot_demo(env, variation, seed=0, descent_steps=6)
    with sim.make_env("pick_place") as env:
        variation = sim.sample_variation("pick_place", "train", np.random.default_rng(0))
        for bad in (0, 2.5, True):
            with pytest.raises(sim.SimError, match="descent_steps"):
                sim.robot_demo(env, variation, seed=0, descent_steps=bad)


def test_a_slow_descent_that_does_not_fit_the_episode_falls_back_to_a_faster_one() -> None:
    variation = sim.sample_variation("pick_place", "train", np.random.default_rng(100))
    with sim.make_env("pick_place") as env:
        obs, _ = env.reset(seed=100, variation=variation)
        start = obs["state"][:3].astype(np.float64)
        moving = np.any(np.diff(plan(env, start).positions, axis=0) != 0, axis=1)
        needed = int(np.flatnonzero(moving)[-1]) + 1  # steps the default plan uses
    with sim.make_env("pick_place", sim.EnvConfig(episode_steps=needed + 1)) as env:
        obs, _ = env.reset(seed=100, variation=variation)
        start = obs["state"][:3].astype(np.float64)
        default = plan(env, start)
        slowed = plan(env, start, descent_steps=20)  # 20 never fits: one step more does
    closes = [int(np.argmax(t.grippers > 0)) for t in (default, slowed)]
    assert closes[1] == closes[0] + 1
    with sim.make_env("pick_place", sim.EnvConfig(episode_steps=needed - 1)) as env:
        obs, _ = env.reset(seed=100, variation=variation)
        with pytest.raises(sim.SimError, match="raise episode_steps"):
            plan(env, obs["state"][:3].astype(np.float64), descent_steps=20)
