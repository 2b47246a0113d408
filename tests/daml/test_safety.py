"""Safety clamps of the robot loop: speed, workspace box, NaN guard, stale-data watchdog."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from daml.bridge_config import load_launch_config
from daml.safety import MotionLimits, action_is_finite, safe_target, safe_velocity, stale_reason

CONFIG_PATH = Path(__file__).resolve().parents[2] / "launch" / "panda_sim.toml"


def limits(**changes) -> MotionLimits:
    base = MotionLimits.from_config(load_launch_config(CONFIG_PATH))
    return dataclasses.replace(base, **changes)


def test_velocity_is_scaled_and_clamped_to_speed_and_workspace():
    lim = limits(max_speed_m_s=0.6)
    inside = np.array([0.5, 0.0, 0.2])
    assert np.allclose(safe_velocity(np.array([0.5, 0, 0, 1]), inside, lim), [0.3, 0, 0])
    assert np.allclose(
        safe_velocity(np.array([9, 0, 0, 1]), inside, lim), [0.6, 0, 0]
    )  # clipped to 1
    slow = safe_velocity(np.array([1, 1, 0, 1]), inside, limits(max_speed_m_s=0.1))
    assert np.linalg.norm(slow) == pytest.approx(0.1) and slow[0] == pytest.approx(slow[1])
    near_edge = np.array([0.74, 0.0, 0.2])  # 1 cm from x max: at most 1 cm in one step
    assert safe_velocity(np.array([1, 0, 0, 1]), near_edge, lim)[0] * lim.dt_s == pytest.approx(
        0.01
    )
    outside = np.array([0.9, 0.0, 0.2])  # outside already: may only come back
    assert safe_velocity(np.array([1, 0, 0, 1]), outside, lim)[0] == 0.0
    assert safe_velocity(np.array([-1, 0, 0, 1]), outside, lim)[0] < 0.0
    assert np.allclose(safe_target(np.array([0.5, 0, 0, 1]), inside, lim), [0.53, 0, 0.2])


def test_nan_guard_and_watchdog_reasons():
    lim = limits()
    assert action_is_finite(np.array([0.1, 0, 0, 1])) and not action_is_finite(
        np.array([np.nan, 0, 0, 1])
    )
    assert not action_is_finite(np.array([0.1, 0, 0]))
    assert stale_reason(0.1, 0.1, lim) is None
    assert "waiting for a camera image" == stale_reason(None, 0.1, lim)
    assert "camera image 0.90 s old" in stale_reason(0.9, 0.1, lim)
    assert "robot state" in stale_reason(0.1, 0.9, lim)


class StubBridge:
    """What ClosedLoopRunner reads of a RosBridge: no camera or state has arrived yet."""

    def __init__(self, connected: bool) -> None:
        self.connected, self.connections, self.stops = connected, 1, 0
        self.server_errors, self.last_server_error = 0, None

    def input_ages(self) -> tuple[None, None]:
        return None, None

    def publish_stop(self, ee_position_m) -> None:
        self.stops += 1


@pytest.mark.parametrize("connected", [True, False])
def test_the_summary_says_whether_the_final_zero_motion_could_be_sent(connected):
    """(audit, session 54) 'zero motion sent' was printed even with rosbridge down, when the
    bridge drops every command; the summary now says which it was."""
    from daml.runner import ClosedLoopRunner

    limits = MotionLimits.from_config(load_launch_config(CONFIG_PATH))
    bridge = StubBridge(connected)
    runner = ClosedLoopRunner(bridge, policy=None, limits=limits, max_steps=5)
    runner.on_status = lambda status: runner.request_stop("test over")
    summary = runner.run()
    assert summary.steps == 0 and bridge.stops >= 1
    assert summary.final_stop_sent is connected
    halted = "waiting for a camera image" if connected else "disconnected, reconnecting"
    assert runner.status.halted == halted
    assert runner.status.line().startswith("   - Hz | ")  # no stale rate while halted
