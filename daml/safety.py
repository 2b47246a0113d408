"""Safety rules of the robot loop: action -> bounded velocity/target, NaN guard, stale watchdog.

Pure numpy, no I/O: must not import roslibpy, torch, sim or OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daml.bridge_config import LaunchConfig


@dataclass(frozen=True)
class MotionLimits:
    """The numbers the clamps need, taken from a launch config."""

    workspace_min_m: np.ndarray  # (3,)
    workspace_max_m: np.ndarray  # (3,)
    max_speed_m_s: float
    max_ee_step_m: float  # metres per control step at |action| = 1
    control_hz: float
    image_timeout_s: float
    state_timeout_s: float

    @property
    def dt_s(self) -> float:
        return 1.0 / self.control_hz

    @classmethod
    def from_config(cls, config: LaunchConfig) -> MotionLimits:
        safety, control = config.safety, config.control
        return cls(
            workspace_min_m=np.asarray(safety.workspace_min_m, dtype=np.float64),
            workspace_max_m=np.asarray(safety.workspace_max_m, dtype=np.float64),
            max_speed_m_s=safety.max_speed_m_s,
            max_ee_step_m=control.max_ee_step_m,
            control_hz=control.control_hz,
            image_timeout_s=safety.image_timeout_s,
            state_timeout_s=safety.state_timeout_s,
        )


def action_is_finite(action: np.ndarray) -> bool:
    """NaN/inf guard: True only for a (4,) action of finite numbers."""
    action = np.asarray(action)
    return action.shape == (4,) and bool(np.all(np.isfinite(action)))


def safe_velocity(
    action: np.ndarray, ee_position_m: np.ndarray, limits: MotionLimits
) -> np.ndarray:
    """End-effector velocity (3,) m/s for a contract action, clamped for safety.

    The motion part `action[:3]` is clipped to [-1, 1] and scaled by max_ee_step_m per step
    (as in the sim). Then each axis is cut so that one step cannot leave the workspace box (an
    arm already outside may only move back in), and finally the speed is scaled down to
    max_speed_m_s, keeping the direction (the box is convex, so this stays inside it).
    """
    dt = limits.dt_s
    velocity = (
        np.clip(np.asarray(action[:3], dtype=np.float64), -1.0, 1.0) * limits.max_ee_step_m / dt
    )
    position = np.asarray(ee_position_m, dtype=np.float64)
    low = np.minimum(limits.workspace_min_m, position)  # outside the box: no further out
    high = np.maximum(limits.workspace_max_m, position)
    reachable = np.clip(position + velocity * dt, low, high)
    velocity = (reachable - position) / dt
    speed = float(np.linalg.norm(velocity))
    if speed > limits.max_speed_m_s:
        velocity *= limits.max_speed_m_s / speed
    return velocity


def safe_target(action: np.ndarray, ee_position_m: np.ndarray, limits: MotionLimits) -> np.ndarray:
    """Next end-effector target (3,) m for a PoseStamped interface: one clamped step ahead."""
    velocity = safe_velocity(action, ee_position_m, limits)
    return np.asarray(ee_position_m, dtype=np.float64) + velocity * limits.dt_s


def stale_reason(
    image_age_s: float | None, state_age_s: float | None, limits: MotionLimits
) -> str | None:
    """Why the loop must not move (None if both inputs are fresh).

    Ages are seconds since the newest message was received; None means none has arrived
    since the (re)connection.
    """
    if image_age_s is None:
        return "waiting for a camera image"
    if state_age_s is None:
        return "waiting for the robot state"
    if image_age_s > limits.image_timeout_s:
        return f"camera image {image_age_s:.2f} s old (> {limits.image_timeout_s} s)"
    if state_age_s > limits.state_timeout_s:
        return f"robot state {state_age_s:.2f} s old (> {limits.state_timeout_s} s)"
    return None
