"""The closed loop on a robot: newest image + state -> policy -> clamped command, at control_hz.

Every tick either commands one policy step or, when the inputs are stale, the connection is
down or the policy returned NaN, commands zero motion. Leaving the loop (max steps, stop
request from a signal handler, error) always ends with zero motion. Must not import roslibpy
(the bridge does), torch or sim.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from daml.bridge import Observation, RosBridge
from daml.safety import MotionLimits, action_is_finite, safe_velocity, stale_reason


class Policy(Protocol):
    """What the loop needs from a policy (daml.adapt.AdaptedPolicy has it)."""

    image_px: int

    def act(self, image: np.ndarray, state: np.ndarray) -> np.ndarray:
        """image uint8 (H, W, 3), state float32 (4,) -> action float32 (4,)."""


@dataclass
class LoopStatus:
    """What the live status line shows; updated every tick."""

    steps: int = 0  # policy steps commanded
    ticks: int = 0
    rate_hz: float = 0.0  # achieved policy-step rate over the last few steps
    image_latency_s: float | None = None  # camera stamp -> arrival here
    velocity_m_s: np.ndarray | None = None  # last motion command (after the clamps)
    gripper_closed: bool | None = None
    halted: str | None = None  # why the last tick sent zero motion; None if it moved
    watchdog_stops: int = 0  # ticks stopped because the inputs were stale or missing
    nan_stops: int = 0  # ticks stopped because the policy returned NaN/inf
    disconnected_ticks: int = 0
    latency_sum_s: float = 0.0
    latency_count: int = 0

    def line(self) -> str:
        """One short line: rate, image latency, last command or why the arm is halted."""
        latency = "-" if self.image_latency_s is None else f"{1000 * self.image_latency_s:.0f} ms"
        if self.halted is not None:
            command = f"HALT ({self.halted})"
        elif self.velocity_m_s is not None:
            vx, vy, vz = self.velocity_m_s
            grip = "close" if self.gripper_closed else "open"
            command = f"v=({vx:+.3f},{vy:+.3f},{vz:+.3f}) m/s grip={grip}"
        else:
            command = "-"
        rate = "   - Hz" if self.halted is not None else f"{self.rate_hz:4.1f} Hz"
        return (
            f"{rate} | img latency {latency} | {command} | "
            f"stale {self.watchdog_stops} nan {self.nan_stops}"
        )


@dataclass(frozen=True)
class RunSummary:
    """How a run went (printed by `daml run`, asserted by tests, used by benchmarks)."""

    steps: int
    ticks: int
    stop_reason: str
    mean_rate_hz: float
    mean_image_latency_s: float | None
    watchdog_stops: int
    nan_stops: int
    reconnects: int
    final_stop_sent: bool = True  # False: the bridge was down, so the last zero never left
    server_errors: int = 0  # rosbridge status errors/warnings (e.g. a command it refused)
    last_server_error: str | None = None


class ClosedLoopRunner:
    """Runs a policy on a `RosBridge` until max_steps, a stop request or an error.

    Args:
        bridge: a connected bridge.
        policy: anything with `act(image, state) -> action` (see `Policy`).
        limits: clamps and timeouts (`MotionLimits.from_config`).
        max_steps: stop after this many policy steps (None: until `request_stop`).
        on_status: called after every tick with the live `LoopStatus`.
    """

    def __init__(
        self,
        bridge: RosBridge,
        policy: Policy,
        limits: MotionLimits,
        max_steps: int | None = None,
        on_status: Callable[[LoopStatus], None] | None = None,
    ) -> None:
        self.bridge = bridge
        self.policy = policy
        self.limits = limits
        self.max_steps = max_steps
        self.on_status = on_status
        self.status = LoopStatus()
        self._stop = threading.Event()
        self._stop_reason = ""
        self._final_stop_sent = False
        self._step_times: deque[float] = deque(maxlen=20)
        self._last_position: np.ndarray | None = None

    def request_stop(self, reason: str) -> None:
        """Ask the loop to halt the arm and return (safe from signal handlers and threads)."""
        self._stop_reason = self._stop_reason or reason
        self._stop.set()

    def run(self) -> RunSummary:
        """Run the loop; always ends by commanding zero motion."""
        start_s = time.monotonic()
        period_s = self.limits.dt_s
        next_tick = start_s
        try:
            while not self._stop.is_set():
                if self.max_steps is not None and self.status.steps >= self.max_steps:
                    self.request_stop(f"reached --max-steps {self.max_steps}")
                    break
                self._tick()
                self.status.ticks += 1
                if self.on_status is not None:
                    self.on_status(self.status)
                next_tick += period_s
                delay = next_tick - time.monotonic()
                if delay < 0:  # behind schedule (slow policy or machine): don't burst
                    next_tick, delay = time.monotonic(), 0.0
                self._stop.wait(delay)
        finally:
            self._final_stop_sent = self.bridge.connected
            self.bridge.publish_stop(self._last_position)
        return self._summary(time.monotonic() - start_s)

    def _tick(self) -> None:
        """One control period: a policy step, or zero motion and the reason why not."""
        status = self.status
        if not self.bridge.connected:
            status.halted = "disconnected, reconnecting"
            status.disconnected_ticks += 1
            return
        image_age, state_age = self.bridge.input_ages()
        reason = stale_reason(image_age, state_age, self.limits)
        observation = None if reason is not None else self.bridge.observation()
        if observation is None:
            status.watchdog_stops += 1
            state_fresh = state_age is not None and state_age <= self.limits.state_timeout_s
            self._halt(reason or "waiting for data", self._last_position if state_fresh else None)
            return
        self._last_position = observation.state[:3].astype(np.float64)
        if observation.image_latency_s is not None:
            status.image_latency_s = observation.image_latency_s
            status.latency_sum_s += observation.image_latency_s
            status.latency_count += 1
        self._act(observation)

    def _act(self, observation: Observation) -> None:
        """Run the policy and command its (clamped) action, or halt on a NaN/inf action."""
        status = self.status
        action = np.asarray(self.policy.act(observation.image, observation.state), dtype=np.float32)
        if not action_is_finite(action):
            status.nan_stops += 1
            self._halt(f"policy returned non-finite action {action.tolist()}", self._last_position)
            return
        velocity = safe_velocity(action, self._last_position, self.limits)
        close = bool(action[3] > 0)
        # Gripper first: the robot steps on the newest command of each topic, and a step falling
        # between the two messages must not apply the new motion with the previous gripper state
        # (e.g. a run's first move with the gripper still open). One connection keeps the order.
        self.bridge.publish_gripper(close)
        self.bridge.publish_motion(velocity, self._last_position)
        status.velocity_m_s, status.gripper_closed, status.halted = velocity, close, None
        status.steps += 1
        self._step_times.append(time.monotonic())
        if len(self._step_times) >= 2:
            span = self._step_times[-1] - self._step_times[0]
            status.rate_hz = (len(self._step_times) - 1) / span if span > 0 else 0.0

    def _halt(self, reason: str, ee_position_m: np.ndarray | None) -> None:
        """Zero motion; `ee_position_m` is the fresh position (PoseStamped hold) or None."""
        self.bridge.publish_stop(ee_position_m)
        self.status.halted = reason

    def _summary(self, elapsed_s: float) -> RunSummary:
        status = self.status
        latency = status.latency_sum_s / status.latency_count if status.latency_count else None
        return RunSummary(
            steps=status.steps,
            ticks=status.ticks,
            stop_reason=self._stop_reason or "stopped",
            mean_rate_hz=status.steps / elapsed_s if elapsed_s > 0 else 0.0,
            mean_image_latency_s=latency,
            watchdog_stops=status.watchdog_stops,
            nan_stops=status.nan_stops,
            reconnects=max(0, self.bridge.connections - 1),
            final_stop_sent=self._final_stop_sent,
            server_errors=self.bridge.server_errors,
            last_server_error=self.bridge.last_server_error,
        )
