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
