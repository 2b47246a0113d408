"""The push expert's recovery (robot_demo(push_retries=)): when it sees a lost push, and that a
noisy demo which loses its target lifts, goes behind it again and pushes it home."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.expert_demo import PUSH_RETRY_RISE_M, push_lost, push_retry_trajectory
from sim.experts import PUSH_Z_M, PUSHER_HALF_M, plan


@pytest.fixture(scope="module")
def env():
    with sim.make_env("push") as env:
        yield env


def _first_push_step(env, seed: int = 3):
    variation = sim.sample_variation("push", "train", np.random.default_rng(200))
    obs, _ = env.reset(seed=seed, variation=variation)
    trajectory = plan(env, obs["state"][:3].astype(np.float64))
    return trajectory, trajectory.labels.index("push")


def _target(env):
    lo, hi = env.scene.target_bounds(env.bullet)
    centre = (lo[:2] + hi[:2]) / 2
    to_goal = env.scene.target_slot_xy - centre
    return centre, to_goal / np.linalg.norm(to_goal), (hi[:2] - lo[:2]) / 2


def test_a_pusher_behind_its_target_has_not_lost_it(env) -> None:
    trajectory, t = _first_push_step(env)
    centre, direction, half = _target(env)
    behind = centre - direction * (np.abs(direction) @ half + PUSHER_HALF_M + 0.005)
    assert not push_lost(env, trajectory, t, np.append(behind, PUSH_Z_M))
    # before the push (approach, descent) nothing counts as lost
    assert not push_lost(env, trajectory, 0, np.append(centre, PUSH_Z_M))


def test_a_pusher_over_past_or_beside_its_target_has_lost_it(env) -> None:
    trajectory, t = _first_push_step(env)
    centre, direction, half = _target(env)
    side = np.array([-direction[1], direction[0]])
    over = centre + direction * 0.005
    past = centre + direction * (np.abs(direction) @ half + 0.02)
    beside = centre + side * (np.abs(side) @ half + PUSHER_HALF_M + 0.02)
    for ee in (over, past, beside):
        assert push_lost(env, trajectory, t, np.append(ee, PUSH_Z_M))
    # far behind and off to the side is still the approach to the push line, not a loss
    approaching = beside - direction * 0.1
    assert not push_lost(env, trajectory, t, np.append(approaching, PUSH_Z_M))


def test_a_push_that_ends_off_the_goal_is_lost(env) -> None:
    trajectory, _ = _first_push_step(env)
    retreat = trajectory.labels.index("retreat")
    centre, _, _ = _target(env)
    assert push_lost(env, trajectory, retreat, np.append(centre, 0.1))  # target never moved


def test_the_retry_plan_rises_goes_behind_and_pushes_in_the_steps_left(env) -> None:
    _first_push_step(env)
    centre, direction, _ = _target(env)
    ee = np.append(centre + direction * 0.01, PUSH_Z_M)
    fits = [n for n in range(1, env.episode_steps + 1) if push_retry_trajectory(env, ee, n)]
    assert fits and fits == list(range(fits[0], env.episode_steps + 1))  # fewer: no retry
    steps = fits[0] + 2
    retry = push_retry_trajectory(env, ee, steps)
    assert retry.positions.shape == (steps + 1, 3) and len(retry.labels) == steps
    rise = int(np.argmax(np.isclose(retry.positions[:, 2], PUSH_Z_M + PUSH_RETRY_RISE_M)))
    assert 0 < rise and np.all(np.diff(retry.positions[: rise + 1, 2]) > 0)  # straight up first
    np.testing.assert_allclose(retry.positions[: rise + 1, :2], np.tile(ee[:2], (rise + 1, 1)))
    assert "push" in retry.labels and retry.labels[-1] == "retreat"
    push_start = retry.positions[retry.labels.index("push")]
    assert np.dot(push_start[:2] - centre, direction) < 0  # behind the target again


def test_a_noisy_demo_that_loses_its_push_pushes_again_and_succeeds(env) -> None:
    variation = sim.sample_variation("push", "train", np.random.default_rng(130))
    lost = sim.robot_demo(env, variation, seed=5, action_noise=0.3)
    recovered = sim.robot_demo(env, variation, seed=5, action_noise=0.3, push_retries=2)
    again = sim.robot_demo(env, variation, seed=5, action_noise=0.3, push_retries=2)
    np.testing.assert_array_equal(recovered["states"], again["states"])  # seeded
    assert not lost["success"] and not lost["retried"]
    assert recovered["success"] and recovered["retried"]
    np.testing.assert_array_equal(recovered["states"][0], lost["states"][0])
    assert np.all(np.abs(recovered["actions"][:, :3]) <= 1.0)
    assert np.all(recovered["actions"][:, 3] == 1.0)  # the fingers stay closed: a pusher
    z = recovered["states"][:, 2]
    first_push = int(np.argmax(z < PUSH_Z_M + 0.01))
    lift = first_push + int(np.argmax(z[first_push:] > PUSH_Z_M + 0.05))
    assert lift > first_push  # it rose from pushing height ...
    assert np.any(z[lift:] < PUSH_Z_M + 0.01)  # ... and came down to push again


def test_retries_leave_a_push_that_holds_unchanged(env) -> None:
    variation = sim.sample_variation("push", "train", np.random.default_rng(101))
    clean = sim.robot_demo(env, variation, seed=4)
    assert clean["success"]
    retried = sim.robot_demo(env, variation, seed=4, push_retries=3)
    np.testing.assert_array_equal(retried["states"], clean["states"])
    np.testing.assert_array_equal(retried["actions"], clean["actions"])
    assert not retried["retried"]


def test_bad_push_retries_is_a_clear_error(env) -> None:
    variation = sim.sample_variation("push", "train", np.random.default_rng(0))
    for bad in (-1, 1.5, True):
        with pytest.raises(sim.SimError, match="push_retries"):
            sim.robot_demo(env, variation, seed=0, push_retries=bad)
    with sim.make_env("pick_place") as pick:
        variation = sim.sample_variation("pick_place", "train", np.random.default_rng(0))
        with pytest.raises(sim.SimError, match="push_retries is for push"):
            sim.robot_demo(pick, variation, seed=0, push_retries=1)


def test_a_learner_that_slides_off_its_push_is_labelled_to_push_again(env) -> None:
    """DAgger with push_retries (`daml collect --dagger CKPT --push-retries N`): where the
    driving policy slides off the side of its target mid-push, the plan's labels steer it back
    onto the line and later say "retreat" for a target far off its goal; the retry's say "lift,
    go behind the target where it is now, push it home". The states are the driver's either way."""
    variation = sim.sample_variation("push", "train", np.random.default_rng(101))
    clean = sim.robot_demo(env, variation, seed=4)
    first_push = int(np.argmax(clean["states"][:, 2] < PUSH_Z_M + 0.005))
    push = clean["actions"][first_push + 2, :2]
    ahead = push / np.linalg.norm(push)
    drift = 0.5 * (ahead + np.array([-ahead[1], ahead[0]]))  # on at table height, veering off
    seen: list[int] = []

    def slides_off(obs) -> np.ndarray:  # the expert's own moves, then the drifting push
        t = len(seen)
        seen.append(t)
        return clean["actions"][t] if t <= first_push else np.array([*drift, 0.0, 1.0])

    plain = sim.robot_demo(env, variation, seed=4, execute=slides_off)
    seen.clear()
    relabelled = sim.robot_demo(env, variation, seed=4, execute=slides_off, push_retries=1)
    np.testing.assert_array_equal(relabelled["states"], plain["states"])  # the driver's states
    assert not plain["success"] and not relabelled["success"]
    assert relabelled["retried"] and not plain["retried"]
    changed = np.flatnonzero(np.any(relabelled["actions"] != plain["actions"], axis=1))
    assert changed.size and changed[0] > first_push  # the same labels until the push was lost
    # the retry asks to lift first (the plan, still pushing, holds the pusher at table height)
    assert relabelled["actions"][changed[0], 2] > 0.5 >= plain["actions"][changed[0], 2]
