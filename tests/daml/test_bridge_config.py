"""Launch configs (launch/*.toml) load, and bad ones fail with the key named."""

import re
from pathlib import Path

import pytest

from daml.bridge_config import load_launch_config
from daml.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = ROOT / "launch" / "panda_sim.toml"


def test_launch_configs_load_and_bad_values_name_the_key(tmp_path):
    for path in sorted((ROOT / "launch").glob("*.toml")):
        load_launch_config(path)
    text = CONFIG_PATH.read_text()
    cases = [
        (text.replace("[safety]", "[safety]\nspeed = 1"), "unknown key(s) ['speed'] in [safety]"),
        (text.replace('topic = "/daml_twin/camera/image/compressed"', ""), "[camera] is missing"),
        (
            text.replace("control_hz = 10", 'control_hz = "fast"'),
            'control.control_hz must be a number, got "fast"',
        ),
        (text.replace('url = "ws://127.0.0.1:9090"', 'url = "http://x"'), "ws://HOST:9090"),
        (text + "\n[extras]\n", "unknown section(s) ['extras']"),
        (text.replace("workspace_min_m = [0.25", "workspace_min_m = [0.95"), "workspace_min_m"),
        (  # a string was split into one-letter joint names
            text.replace(
                'gripper_joints = ["panda_finger_joint1", "panda_finger_joint2"]',
                'gripper_joints = "panda_finger_joint1"',
            ),
            "state.gripper_joints = 'panda_finger_joint1' must be an array of joint names",
        ),
        (
            text.replace("workspace_max_m = [0.75, 0.35, 0.40]", 'workspace_max_m = "0.75"'),
            "safety.workspace_max_m = '0.75' must be an array of numbers",
        ),
    ]
    for content, message in cases:
        path = tmp_path / "bad.toml"
        path.write_text(content)
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_launch_config(path)
