"""The pick_place expert re-planned from whatever state it is given: DAgger's labeller.

sim.experts plans once, from the episode's start, and labels step t with the plan's point for
step t. On the expert's own path that is right; on a learner's it is not: a learner that is
late gets "close" above the object, and one that missed its grasp gets "carry to the tray" for
an empty gripper. Here every label comes from the scene as it is now: privileged state says
which phase the task is in (reach the target, grasp it, carry it, let go, back off) and the
label moves straight toward that phase's next waypoint, the same waypoints sim.experts plans
through (grasp point, carry height, release point). As with sim.experts' plans, the label
tracks a point that advances at the plan's speed (the arm lags a little behind its commands),
restarted from the hand wherever the hand is far from it. Must not import torch or daml.
"""

from __future__ import annotations

import math

import numpy as np

from sim.env import ManipulationEnv
from sim.errors import SimError
from sim.experts import (
    APPROACH_CLEARANCE_M,
    CARRY_Z_M,
    CLOSE,
    DESCENT_STEPS,
    EMPTY_GAP_M,
    GRIP_STEPS,
    OPEN,
    PLAN_SPEED_M,
    RELEASE_STEPS,
    RETRY_RISE_M,
    expert_action,
    grasp_waypoints,
)
from sim.tasks.pick_place import release_height

FUNNEL_XY_M = 0.02  # a hand this near the grasp point in x/y descends onto it
ARRIVE_Z_M = 0.01  # ... and this near its height (or already closing there) closes
CLOSING_Z_M = 0.03  # fingers already closing this near the grasp height keep closing
RISE_XY_M = 0.03  # a hand below the approach height and further off than this rises first
OVER_TRAY_XY_M = 0.02  # a held target this near the tray in x/y is lowered into it
TRAY_REACH_XY_M = 0.065  # within this of the tray (its inner half size) a held target moves
# level with it; further off it is carried at carry height
LIFT_FIRST_M = 0.03  # a held target this far below carry height is lifted straight up first
BACKOFF_M = 0.06  # after letting go: up this far above the release height
CARROT_SLACK_M = 0.02  # a hand further than this from the last label's point starts afresh
OPEN_GAP_M = 0.075  # fingers at least this far apart are open (fully open: 0.08)


class ReplanningExpert:
    """Labels for any pick_place state, re-planned every step from privileged state.

    `descent_steps` is the expert's descent onto a grasp as in sim.experts (the last
    APPROACH_CLEARANCE_M in that many steps, never faster than the plan's speed)."""

    def __init__(self, env: ManipulationEnv, descent_steps: int = DESCENT_STEPS) -> None:
        if env.task != "pick_place":
            raise SimError(f"the re-planning expert is for pick_place, not {env.task!r}")
        self.env = env
        self.descent_speed_m = min(PLAN_SPEED_M, APPROACH_CLEARANCE_M / max(1, descent_steps))
        self.let_go = False  # once the target was released over its tray, only back off
        self.carrot: np.ndarray | None = None  # the point the previous label moved toward
        self.releasing = False  # opened over the tray: keep opening while the fingers touch
        self.reopening = False  # fingers closed on nothing: open them (rising) before anything

    def label(self, state: np.ndarray) -> np.ndarray:
        """The expert's action (4,) float32 for robot `state` (4,) (ee xyz, finger gap): toward
        the next point of a straight path from the tracked point (or the hand) to the phase's
        waypoint."""
        ee = np.asarray(state[:3], dtype=np.float64)
        target, gripper, descent_m = self.waypoint(ee, float(state[3]))
        start = self.carrot
        if start is None or np.linalg.norm(start - ee) > CARROT_SLACK_M:
            start = ee
        if descent_m is None:
            self.carrot = _toward(start, target, PLAN_SPEED_M)
        else:  # down at the descent's speed, lining up in x/y at the plan's
            xy = _toward(start[:2], target[:2], PLAN_SPEED_M)
            self.carrot = np.append(xy, _toward(start[2:], target[2:], descent_m))
        return expert_action(ee, self.carrot, gripper)

    def waypoint(self, ee: np.ndarray, gap: float) -> tuple[np.ndarray, float, float | None]:
        """The present phase's waypoint (3,) for a hand at `ee` (3,) with fingers `gap` metres
        apart, its gripper command, and the metres per step to descend at (None: approach
        in a straight line at the plan's speed)."""
        env = self.env
        lo, hi = env.scene.target_bounds(env.bullet)
        tray = np.asarray(env.scene.target_slot_xy, dtype=np.float64)
        held = env.robot.touching(env.scene.target_body)
        height = float(hi[2] - lo[2])  # grasp and release heights as planned on the table
        resting = grasp_waypoints(np.zeros(3), np.array([0.0, 0.0, height]))[1].position[2]
        release_z = max(resting, release_height(height))
        if self.let_go or (not held and env.is_success(held=False)):
            self.let_go = True
            return np.append(ee[:2], max(ee[2], release_z + BACKOFF_M)), OPEN, None
        if held:
            return self._carry(ee, tray, release_z)
        self.releasing = False  # (dropped, or never held: a new grasp starts from scratch)
        grasp = np.asarray(grasp_waypoints(lo, hi)[1].position, dtype=np.float64)
        return self._reach(ee, gap, grasp, self._steps_after_grasp(grasp, tray, release_z))

    def _carry(self, ee: np.ndarray, tray: np.ndarray, release_z: float) -> tuple:
        """Holding the target: up to carry height, over the tray, down, open (and once
        opening, keep opening)."""
        off = float(np.linalg.norm(ee[:2] - tray))
        if self.releasing:
            return ee.copy(), OPEN, None
        if off > TRAY_REACH_XY_M:
            if ee[2] < CARRY_Z_M - LIFT_FIRST_M:  # lift clear of the other objects first
                return np.append(ee[:2], CARRY_Z_M), CLOSE, None
            return np.append(tray, CARRY_Z_M), CLOSE, None
        if off > OVER_TRAY_XY_M:  # line up over the tray, no lower than the release point
            return np.append(tray, np.clip(ee[2], release_z, CARRY_Z_M)), CLOSE, None
        if ee[2] > release_z + ARRIVE_Z_M:
            return np.append(tray, release_z), CLOSE, None
        self.releasing = True
        return np.append(tray, release_z), OPEN, None

    def _steps_after_grasp(self, grasp: np.ndarray, tray: np.ndarray, release_z: float) -> int:
        """Steps the task takes from the grasp point `grasp` (3,) on: close, lift, carry, lower,
        open."""
        moves = (CARRY_Z_M - grasp[2], np.linalg.norm(tray - grasp[:2]), CARRY_Z_M - release_z)
        return GRIP_STEPS + RELEASE_STEPS + sum(math.ceil(abs(m) / PLAN_SPEED_M) for m in moves)

    def _reach(self, ee: np.ndarray, gap: float, grasp: np.ndarray, steps_after: int) -> tuple:
        """Not holding the target: over it, down onto the grasp point `grasp` (3,) (slowly where
        the episode leaves time for the rest, `steps_after` steps, as sim.experts plans), close;
        after closing on nothing, open while rising first."""
        above_z = grasp[2] + APPROACH_CLEARANCE_M
        self.reopening = (self.reopening or gap < EMPTY_GAP_M) and gap < OPEN_GAP_M
        off = float(np.linalg.norm(ee[:2] - grasp[:2]))
        at_grasp = off <= FUNNEL_XY_M and ee[2] <= grasp[2] + ARRIVE_Z_M
        closing_there = gap < OPEN_GAP_M and off <= FUNNEL_XY_M and ee[2] <= grasp[2] + CLOSING_Z_M
        if not self.reopening and (at_grasp or closing_there):
            return grasp, CLOSE, None
        if ee[2] < above_z - ARRIVE_Z_M:
            if self.reopening:  # up a little while the fingers open, as sim.expert_demo retries
                return np.append(ee[:2], min(ee[2] + RETRY_RISE_M, above_z)), OPEN, None
            if off > RISE_XY_M:  # off target and low: rise
                return np.append(ee[:2], above_z), OPEN, None
        if off > FUNNEL_XY_M:  # line up over the grasp point, no lower than it
            return np.append(grasp[:2], np.clip(ee[2], grasp[2], above_z)), OPEN, None
        drop = float(ee[2] - grasp[2])
        steps_left = self.env.episode_steps - self.env.step_count - steps_after
        if steps_left * self.descent_speed_m >= drop:
            return grasp, OPEN, self.descent_speed_m
        return grasp, OPEN, min(PLAN_SPEED_M, drop / max(1, steps_left))


def _toward(point: np.ndarray, target: np.ndarray, speed_m: float) -> np.ndarray:
    """The point at most `speed_m` metres from `point` toward `target` (same shapes)."""
    delta = np.asarray(target, dtype=np.float64) - point
    distance = float(np.linalg.norm(delta))
    return point + (delta if distance <= speed_m else delta * (speed_m / distance))
