"""The scripted expert: privileged scene state -> waypoints -> a trajectory of exactly T steps ->
contract actions (motion clipped to [-1, 1], gripper -1 / +1). sim.expert_demo records demos
with them; the same plan drives the human-like demonstrator (sim.avatar). Must not import torch
or daml.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from sim.env import MAX_EE_STEP_M, ManipulationEnv
from sim.errors import SimError
from sim.tasks.pick_place import release_height

PLAN_SPEED_M = 0.75 * MAX_EE_STEP_M  # metres per step; slack lets the arm track with feedback
APPROACH_CLEARANCE_M = 0.10  # above the object before descending onto it
CARRY_Z_M = 0.20  # height for carrying over the other objects and the tray walls
GRIP_STEPS = 3  # steps to close the fingers (pybullet pandaGraspTest closes in ~0.2 s)
DESCENT_STEPS = 2  # least steps of the descent from APPROACH_CLEARANCE_M onto a grasp (the
# plan's speed makes it 3); robot_demo(descent_steps=) can slow it down (Waypoint.slow_steps)
RELEASE_STEPS = 2
RETRY_RISE_M = 0.04  # after a missed grasp: straight up this far while the fingers open
EMPTY_GAP_M = 0.01  # closed fingers this near each other hold nothing: the grasp missed
PUSH_Z_M = 0.022  # end-effector height while pushing: fingertips ~1 cm above the table
PUSH_BACKOFF_M = 0.035  # gap between pusher and object before the push
PUSH_SPEED_M = 0.02  # metres per step while in contact, slow enough not to fling the object
PUSH_PLAN_SPEED_M = 0.012  # time allotted to the push: the arm lags behind under contact
PUSH_REAIM_RAD = 0.5  # largest turn of the push direction away from the planned line
PUSH_ALIGN_M = 0.01  # largest sideways pusher correction per step
PUSH_OVERRUN_M = 0.03  # planned push ends this far past nominal contact (see push_waypoints)
PUSH_SHORT_M = 0.008  # stop pushing this short of the goal: the object slides on a little
PUSHER_HALF_M = 0.012  # closed fingertips' half thickness
OPEN, CLOSE = -1.0, 1.0


@dataclass(frozen=True)
class Waypoint:
    """Reach `position` (3,) with the gripper command held at `gripper`, in >= `min_steps` steps.

    `speed_m` caps the metres per step of this segment; `label` names it: "push" segments are
    steered by the object's state every step, "retreat" goes straight up (desired_position).
    `slow_steps` stretches the segment to that many steps where the episode leaves time
    (time_parameterise)."""

    position: tuple[float, float, float]
    gripper: float
    min_steps: int = 1
    speed_m: float = PLAN_SPEED_M
    label: str = ""
    slow_steps: int = 0


@dataclass(frozen=True)
class Trajectory:
    """A time-parameterised plan: `positions` (T + 1, 3) desired end-effector positions
    (positions[0] = start), `grippers` (T,) commands (-1 open, +1 close) and `labels` (T,)
    segment names per step; `pusher_half_m` is the half thickness of what pushes."""

    positions: np.ndarray
    grippers: np.ndarray
    labels: tuple[str, ...]
    pusher_half_m: float = PUSHER_HALF_M


def grasp_waypoints(
    lo: np.ndarray, hi: np.ndarray, descent_steps: int = DESCENT_STEPS
) -> list[Waypoint]:
    """Above the object with bounds `lo`/`hi` (3,), down (slowed to `descent_steps` steps where
    the episode leaves time), close, lift to carry height."""
    centre = (lo + hi) / 2
    # Grasp around the middle, but keep the hand (3.5 cm above the grasp point) off the top.
    grasp_z = max(0.015, min(centre[2], hi[2] - 0.03))
    above = (centre[0], centre[1], grasp_z + APPROACH_CLEARANCE_M)
    grasp = (centre[0], centre[1], grasp_z)
    return [
        Waypoint(above, OPEN),
        Waypoint(grasp, OPEN, min(descent_steps, DESCENT_STEPS), slow_steps=descent_steps),
        Waypoint(grasp, CLOSE, GRIP_STEPS),
        Waypoint((centre[0], centre[1], CARRY_Z_M), CLOSE),
    ]


def pick_place_waypoints(
    env: ManipulationEnv, pusher_half_m: float, descent_steps: int = DESCENT_STEPS
) -> list[Waypoint]:
    """Grasp and lift the target (descending onto it in up to `descent_steps` steps, see
    grasp_waypoints), carry it over the target tray, lower, open, back off.

    `pusher_half_m` is unused (nothing pushes here); it keeps the WAYPOINTS signature uniform."""
    lo, hi = env.scene.target_bounds(env.bullet)
    grasp_z = grasp_waypoints(lo, hi)[1].position[2]
    tray = env.scene.target_slot_xy
    release_z = max(grasp_z, release_height(hi[2] - lo[2]))
    return [
        *grasp_waypoints(lo, hi, descent_steps),
        Waypoint((tray[0], tray[1], CARRY_Z_M), CLOSE),
        Waypoint((tray[0], tray[1], release_z), CLOSE),
        Waypoint((tray[0], tray[1], release_z), OPEN, RELEASE_STEPS),
        Waypoint((tray[0], tray[1], release_z + 0.06), OPEN),
    ]


def push_waypoints(
    env: ManipulationEnv, pusher_half_m: float, descent_steps: int = DESCENT_STEPS
) -> list[Waypoint]:
    """Close the fingers, go behind the target (away from the goal), push it onto the goal.

    `pusher_half_m` is the pusher's half thickness (closed fingers, or the avatar's hand);
    `descent_steps` is unused (nothing is grasped); it keeps the WAYPOINTS signature uniform."""
    lo, hi = env.scene.target_bounds(env.bullet)
    centre = (lo[:2] + hi[:2]) / 2
    goal = env.scene.target_slot_xy
    direction = (goal - centre) / np.linalg.norm(goal - centre)
    # Half-extent of the object's box along the push direction.
    reach = float(np.abs(direction) @ ((hi[:2] - lo[:2]) / 2))
    start = centre - direction * (reach + pusher_half_m + PUSH_BACKOFF_M)
    # Plan to push a little past the nominal contact end: a turning object gets longer along
    # the push; desired_position stops the pusher once the object is at the goal.
    end = goal - direction * (reach + pusher_half_m - PUSH_OVERRUN_M)
    return [
        Waypoint((start[0], start[1], PUSH_Z_M + 0.08), CLOSE),
        Waypoint((start[0], start[1], PUSH_Z_M), CLOSE),
        Waypoint((end[0], end[1], PUSH_Z_M), CLOSE, speed_m=PUSH_PLAN_SPEED_M, label="push"),
        Waypoint((end[0], end[1], PUSH_Z_M + 0.1), CLOSE, 3, label="retreat"),
    ]


WAYPOINTS = {"pick_place": pick_place_waypoints, "push": push_waypoints}


def plan(
    env: ManipulationEnv,
    start: np.ndarray,
    pusher_half_m: float = PUSHER_HALF_M,
    descent_steps: int = DESCENT_STEPS,
) -> Trajectory:
    """The task's waypoints from privileged state, time-parameterised from `start` (3,) into
    exactly env.episode_steps steps. `descent_steps` is for pick_place's grasp."""
    waypoints = WAYPOINTS[env.task](env, pusher_half_m, descent_steps)
    trajectory = time_parameterise(start, waypoints, env.episode_steps, env.task)
    return replace(trajectory, pusher_half_m=pusher_half_m)


def time_parameterise(
    start: np.ndarray, waypoints: list[Waypoint], total: int, name: str = "expert"
) -> Trajectory:
    """Straight segments through `waypoints` from `start` (3,), exactly `total` steps.

    Each segment gets ceil(length / speed_m) steps (at least its min_steps), stretched toward
    its slow_steps as far as the episode leaves time (a scene whose plan is long anyway gets
    a faster segment rather than no plan); the rest of the episode holds still at the last
    waypoint (keeping the last segment's label).
    """
    # Each segment starts where the previous one's interpolation ended, which can differ from
    # its waypoint in the last bit (plans stay bit-identical to those datasets were made with).
    targets = [np.asarray(wp.position) for wp in waypoints]
    starts = [np.asarray(start, dtype=np.float64)]
    for b in targets[:-1]:
        starts.append(starts[-1] + (b - starts[-1]))
    steps = [
        max(wp.min_steps, math.ceil(np.linalg.norm(b - a) / wp.speed_m - 1e-9))
        for wp, a, b in zip(waypoints, starts, targets, strict=True)
    ]
    if sum(steps) > total:
        raise SimError(
            f"the {name} plan needs {sum(steps)} steps but episode_steps={total}; "
            "raise episode_steps"
        )
    for i, wp in enumerate(waypoints):
        steps[i] += max(0, min(wp.slow_steps - steps[i], total - sum(steps)))
    positions, grippers, labels = [starts[0]], [], []
    for wp, a, b, n in zip(waypoints, starts, targets, steps, strict=True):
        positions.extend(a + (b - a) * (k / n) for k in range(1, n + 1))
        grippers.extend([wp.gripper] * n)
        labels.extend([wp.label] * n)
    used = len(grippers)
    positions.extend([positions[-1]] * (total - used))
    grippers.extend([grippers[-1]] * (total - used))
    labels.extend([labels[-1]] * (total - used))
    return Trajectory(np.asarray(positions), np.asarray(grippers, dtype=np.float32), tuple(labels))


def desired_position(
    env: ManipulationEnv, trajectory: Trajectory, t: int, ee: np.ndarray
) -> np.ndarray:
    """Where the end effector (now at `ee` (3,)) should be after step `t` (3,).

    Outside "push" and "retreat" segments this is the planned point. While pushing, privileged
    object state steers: the pusher advances one push step toward the goal as seen from the
    object (turned at most PUSH_REAIM_RAD off the planned line, so it never sweeps across the
    object) while sliding sideways onto the line through the object's centre; once the object
    is at the goal it stops. "retreat" goes straight up from wherever the push ended.
    """
    desired = trajectory.positions[t + 1].copy()
    if trajectory.labels[t] == "retreat":
        return np.append(ee[:2], desired[2])
    if trajectory.labels[t] != "push":
        return desired
    lo, hi = env.scene.target_bounds(env.bullet)
    centre = (lo[:2] + hi[:2]) / 2
    to_goal = env.scene.target_slot_xy - centre
    line = trajectory.positions[t + 1][:2] - trajectory.positions[t][:2]
    line /= np.linalg.norm(line)
    if np.dot(to_goal, line) <= PUSH_SHORT_M:  # at (or past) the goal: stop pushing
        return np.append(ee[:2], desired[2])
    turn = math.atan2(line[0] * to_goal[1] - line[1] * to_goal[0], float(np.dot(line, to_goal)))
    turn = float(np.clip(turn, -PUSH_REAIM_RAD, PUSH_REAIM_RAD))
    aim = np.array(
        [
            math.cos(turn) * line[0] - math.sin(turn) * line[1],
            math.sin(turn) * line[0] + math.cos(turn) * line[1],
        ]
    )
    offset = centre - ee[:2]
    sideways = offset - aim * float(np.dot(offset, aim))
    norm = float(np.linalg.norm(sideways))
    if norm > PUSH_ALIGN_M:
        sideways *= PUSH_ALIGN_M / norm
    desired[:2] = ee[:2] + aim * PUSH_SPEED_M + sideways
    return desired


def expert_action(ee: np.ndarray, desired: np.ndarray, gripper: float) -> np.ndarray:
    """Contract action (4,) float32 moving from `ee` (3,) toward `desired` (3,)."""
    motion = np.clip((desired - ee) / MAX_EE_STEP_M, -1.0, 1.0)
    return np.append(motion, gripper).astype(np.float32)
