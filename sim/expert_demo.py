"""The robot expert's demos: the plan of sim.experts executed closed loop for one episode, with
DART noise on the executed motion and the recoveries the noisy demos can show (a missed
pick_place grasp grasped again, a lost push pushed again). Must not import torch or daml.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from sim.env import ManipulationEnv
from sim.errors import SimError
from sim.experts import (
    CLOSE,
    DESCENT_STEPS,
    EMPTY_GAP_M,
    GRIP_STEPS,
    OPEN,
    PUSH_Z_M,
    PUSHER_HALF_M,
    RETRY_RISE_M,
    Trajectory,
    Waypoint,
    desired_position,
    expert_action,
    grasp_waypoints,
    pick_place_waypoints,
    plan,
    push_waypoints,
    time_parameterise,
)
from sim.replanning import ReplanningExpert
from sim.tasks.push import GOAL_RADIUS_M
from sim.variation import Variation

NOISE_STREAM = 0xDA27  # second seed word of the DART noise generator (independent of env seeds)
MISS_STREAM = 0xA155  # second seed word of the missed-grasp direction (independent of the noise)
MAX_LINGER_STEPS = 3  # a missed grasp's empty lift goes on for 0..this many steps (drawn)
PUSH_LOST_SLACK_M = 0.005  # a pusher this far beyond the target's side has lost it
PUSH_RETRY_RISE_M = 0.08  # a push retry lifts the pusher this far above pushing height first


def retry_trajectory(
    env: ManipulationEnv, ee: np.ndarray, steps: int, descent_steps: int = DESCENT_STEPS
) -> Trajectory | None:
    """After a missed pick_place grasp, from `ee` (3,): up RETRY_RISE_M while the fingers open,
    then the whole task again from the target's present pose, in exactly `steps` steps; None
    if that does not fit (the clean plan then goes on, and the demo most likely fails)."""
    rise = (float(ee[0]), float(ee[1]), float(ee[2]) + RETRY_RISE_M)
    waypoints = [
        Waypoint(rise, OPEN, 2),
        *pick_place_waypoints(env, PUSHER_HALF_M, descent_steps),
    ]
    try:
        return time_parameterise(np.asarray(ee, dtype=np.float64), waypoints, steps, "retry")
    except SimError:
        return None


def push_lost(env: ManipulationEnv, trajectory: Trajectory, t: int, ee: np.ndarray) -> bool:
    """Whether the push at step `t` of `trajectory`, pusher at `ee` (3,), has lost its target:
    the target is not on its goal (GOAL_RADIUS_M) and either the planned push is over
    ("retreat") or the pusher is no longer behind it: its centre has passed the target's
    centre along the line to the goal (it rides over the target or went past it), or it is
    level with the target's box and beside it (by more than PUSH_LOST_SLACK_M)."""
    label = trajectory.labels[t]
    if label not in ("push", "retreat"):
        return False
    lo, hi = env.scene.target_bounds(env.bullet)
    centre = (lo[:2] + hi[:2]) / 2
    to_goal = env.scene.target_slot_xy - centre
    distance = float(np.linalg.norm(to_goal))
    if distance < GOAL_RADIUS_M:
        return False
    if label == "retreat":
        return True
    direction = to_goal / distance
    offset = ee[:2] - centre
    along = float(offset @ direction)
    side = abs(float(offset[0] * direction[1] - offset[1] * direction[0]))
    half_extent = (hi[:2] - lo[:2]) / 2
    half_length = float(np.abs(direction) @ half_extent)
    half_width = float(np.abs(direction[::-1]) @ half_extent)
    passed = along > 0.0  # the pusher's centre is over or past the target's
    level = along > -(half_length + trajectory.pusher_half_m)
    beside = level and side > half_width + trajectory.pusher_half_m + PUSH_LOST_SLACK_M
    return passed or beside


def push_retry_trajectory(env: ManipulationEnv, ee: np.ndarray, steps: int) -> Trajectory | None:
    """After a lost push, from `ee` (3,): up PUSH_RETRY_RISE_M, then behind the target where it
    now is and push again, in exactly `steps` steps; None if that does not fit."""
    rise = (float(ee[0]), float(ee[1]), PUSH_Z_M + PUSH_RETRY_RISE_M)
    *approach, retreat = push_waypoints(env, PUSHER_HALF_M)
    waypoints = [Waypoint(rise, CLOSE), *approach, replace(retreat, min_steps=1)]
    try:
        return time_parameterise(np.asarray(ee, dtype=np.float64), waypoints, steps, "push retry")
    except SimError:
        return None


def robot_demo(
    env: ManipulationEnv,
    variation: Variation,
    seed: int,
    action_noise: float = 0.0,
    miss_m: float = 0.0,
    descent_steps: int = DESCENT_STEPS,
    push_retries: int = 0,
    execute: Callable[[dict], np.ndarray] | None = None,
    labels: str = "plan",
) -> dict[str, np.ndarray]:
    """Run the scripted expert for one episode of exactly T steps.

    With `action_noise` > 0 the demo is DART-style (Laskey et al., 2017): the arm executes the
    expert's motion plus Gaussian noise of that standard deviation (action units, so 0.2 is
    0.2 * MAX_EE_STEP_M per step), while the recorded action stays the expert's clean, corrective
    one for the state it observed. The demo then shows how to recover from small drifts, which
    plain demos never visit. The noise is drawn from `seed`, so a demo is reproducible.

    With `miss_m` > 0 (pick_place only) the demo shows a recovery from a missed grasp: the arm
    executes the plan for a target moved `miss_m` metres sideways (a direction drawn from
    `seed`) up to the end of the first close, while the recorded actions stay the clean plan's.
    If the fingers then closed on nothing (gap < EMPTY_GAP_M, which the state shows), the arm
    goes on lifting the empty gripper for 0..MAX_LINGER_STEPS steps (drawn from `seed`) while
    the recorded actions are already the recovery's, as a learner that missed would; then the
    expert opens the fingers, rises RETRY_RISE_M and does the task again from where the target
    now is (`retry_trajectory`, re-planned from the state at every step). If they hold
    something, the clean plan goes on. "retried" says whether the demo re-grasped.

    `descent_steps` (pick_place only) is how many steps the expert takes for the last
    APPROACH_CLEARANCE_M down onto its grasp, where the episode leaves time (fewer where it
    does not, down to the default's 3, which the plan's speed sets). More give the demo (and
    with `action_noise` its corrections) more frames with the hand near the object. The
    human-like demonstrator (sim.human_demo) keeps the default.

    `push_retries` (push only) is how many times the expert may start the push again when it
    has lost its target (`push_lost`: the pusher passed or slid beside it, or the planned push
    ended off the goal): up PUSH_RETRY_RISE_M, behind the target where it now is, and push
    (`push_retry_trajectory`), where the episode leaves time. With `action_noise` the demos then
    show recoveries from the drifts that make a noisy push lose contact; "retried" says whether
    one started.

    With `execute` (DAgger, Ross et al., 2011) another policy drives: the arm executes
    `execute(obs)` (obs as env.step returns it; an action (4,) of the contract), plus
    `action_noise` if given, while the recorded actions stay the expert's labels for the states
    that policy reaches. "success" is then the driving policy's. Not with `miss_m`.

    `labels` says where the expert's actions come from: "plan" (sim.experts' plan from the
    episode's start, step by step) or "replan" (pick_place only: sim.replanning's expert,
    re-planned from the scene at every step, the right labels for a learner's states). With
    "replan" and no `execute` the re-planning expert drives itself; not with `miss_m`.

    Returns:
        {"frames": uint8 (T, H, W, 3), "states": float32 (T, 4), "actions": float32 (T, 4),
         "success": bool, "retried": bool}; frames[t] / states[t] are observed before
        actions[t] is applied.
    """
    if not (math.isfinite(action_noise) and action_noise >= 0.0):
        raise SimError(f"action_noise={action_noise} must be a finite number >= 0")
    if not (math.isfinite(miss_m) and miss_m >= 0.0):
        raise SimError(f"miss_m={miss_m} must be a finite number >= 0")
    if miss_m > 0.0 and env.task != "pick_place":
        raise SimError(f"miss_m is for pick_place grasps; task {env.task!r} has none")
    if isinstance(descent_steps, bool) or not isinstance(descent_steps, int) or descent_steps < 1:
        raise SimError(f"descent_steps={descent_steps!r} must be an integer >= 1")
    if descent_steps != DESCENT_STEPS and env.task != "pick_place":
        raise SimError(f"descent_steps is for pick_place grasps; task {env.task!r} has none")
    if isinstance(push_retries, bool) or not isinstance(push_retries, int) or push_retries < 0:
        raise SimError(f"push_retries={push_retries!r} must be an integer >= 0")
    if push_retries and env.task != "push":
        raise SimError(f"push_retries is for push; task {env.task!r} pushes nothing")
    if execute is not None and miss_m > 0.0:
        raise SimError("miss_m executes a missed grasp; it cannot be combined with execute")
    if labels not in ("plan", "replan"):
        raise SimError(f"labels={labels!r} must be 'plan' or 'replan'")
    if labels == "replan" and (env.task != "pick_place" or miss_m > 0.0):
        raise SimError("labels='replan' is for pick_place demos without miss_m")
    noise_rng = np.random.default_rng([seed, NOISE_STREAM])
    obs, _ = env.reset(seed=seed, variation=variation)
    start = obs["state"][:3].astype(np.float64)
    trajectory = executed_plan = plan(env, start, descent_steps=descent_steps)
    executing_miss, retried, offset_t = miss_m > 0.0, False, 0
    if executing_miss:
        miss_rng = np.random.default_rng([seed, MISS_STREAM])
        angle = miss_rng.uniform(0.0, 2 * math.pi)
        linger = int(miss_rng.integers(0, MAX_LINGER_STEPS + 1))
        executed_plan = _shifted_plan(
            env, start, miss_m * np.array([math.cos(angle), math.sin(angle)]), descent_steps
        )
        miss_until = int(np.argmax(executed_plan.grippers == CLOSE)) + GRIP_STEPS
    frames, states, actions = [], [], []
    info = {"success": False}
    replanner = ReplanningExpert(env, descent_steps) if labels == "replan" else None
    retries_left = push_retries if env.task == "push" else 0
    for t in range(env.episode_steps):
        ee = obs["state"][:3].astype(np.float64)
        if retries_left and push_lost(env, trajectory, t - offset_t, ee):
            retry = push_retry_trajectory(env, ee, env.episode_steps - t)
            retries_left -= 1
            if retry is not None:
                trajectory, offset_t, retried = retry, t, True
        source, index = trajectory, t - offset_t
        if executing_miss and t >= miss_until:
            retry = None
            if t > miss_until or obs["state"][3] < EMPTY_GAP_M:
                retry = retry_trajectory(env, ee, env.episode_steps - t, descent_steps)
            if retry is None:  # the fingers hold something (or no time is left): plan goes on
                executing_miss = False
            else:
                source, index = retry, 0
                if t >= miss_until + linger:
                    trajectory, offset_t, retried, executing_miss = retry, t, True, False
        if replanner is not None:
            action = replanner.label(obs["state"])
        else:
            action = expert_action(
                ee, desired_position(env, source, index, ee), float(source.grippers[index])
            )
        frames.append(obs["image"])
        states.append(obs["state"])
        actions.append(action)
        executed = action.copy()
        if execute is not None:
            executed = _contract_action(execute(obs))
        if executing_miss:
            executed = expert_action(
                ee, desired_position(env, executed_plan, t, ee), float(executed_plan.grippers[t])
            )
        if action_noise > 0.0:
            executed[:3] = np.clip(executed[:3] + noise_rng.normal(0.0, action_noise, 3), -1, 1)
        obs, _, _, _, info = env.step(executed)
    return {
        "frames": np.stack(frames),
        "states": np.stack(states),
        "actions": np.stack(actions),
        "success": bool(info["success"]),
        "retried": retried,
    }


def _contract_action(action) -> np.ndarray:
    """A driving policy's action as float32 (4,), motion clipped to [-1, 1]; SimError if not."""
    action = np.asarray(action, dtype=np.float32)
    if action.shape != (4,) or not np.all(np.isfinite(action)):
        raise SimError(f"execute must return a finite action of shape (4,), got {action!r}")
    return np.append(np.clip(action[:3], -1.0, 1.0), action[3]).astype(np.float32)


def _shifted_plan(
    env: ManipulationEnv, start: np.ndarray, shift: np.ndarray, descent_steps: int
) -> Trajectory:
    """The pick_place grasp plan for the target moved by `shift` (2,) metres in x/y."""
    lo, hi = env.scene.target_bounds(env.bullet)
    delta = np.append(shift, 0.0)
    waypoints = grasp_waypoints(lo + delta, hi + delta, descent_steps)
    return time_parameterise(start, waypoints, env.episode_steps, "missed grasp")
