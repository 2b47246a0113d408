"""ROS message dicts <-> arrays: camera images, poses, gripper state and commands."""

import base64
import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from daml import ros_messages
from daml.bridge_config import load_launch_config
from daml.errors import DataError

CONFIG_PATH = Path(__file__).resolve().parents[2] / "launch" / "panda_sim.toml"


def test_images_decode_from_jpeg_and_raw_encodings_with_centre_crop():
    rgb = np.zeros((48, 80, 3), np.uint8)
    rgb[:, 16:64] = (200, 30, 10)  # the centre square is red, the side bands black
    raw = {
        "height": 48,
        "width": 80,
        "encoding": "rgb8",
        "step": 240,
        "data": base64.b64encode(rgb.tobytes()).decode(),
    }
    out = ros_messages.decode_image(raw, "sensor_msgs/Image", 24)
    assert out.shape == (24, 24, 3) and np.all(out == (200, 30, 10))
    bgr = dict(raw, encoding="bgr8", data=base64.b64encode(rgb[:, :, ::-1].tobytes()).decode())
    assert np.all(ros_messages.decode_image(bgr, "sensor_msgs/Image", 24) == (200, 30, 10))
    jpeg = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]))[1]
    compressed = {"format": "jpeg", "data": base64.b64encode(jpeg).decode()}
    out = ros_messages.decode_image(compressed, "sensor_msgs/CompressedImage", 48)
    assert np.abs(out[4:-4, 4:-4].astype(int) - (200, 30, 10)).max() < 12  # JPEG bleeds at edges
    with pytest.raises(DataError, match="rgb8/bgr8"):
        ros_messages.decode_image(dict(raw, encoding="mono16"), "sensor_msgs/Image", 24)


def test_state_and_gripper_messages_for_robot_templates():
    config = load_launch_config(CONFIG_PATH)
    joints = {
        "name": ["panda_joint1", "panda_finger_joint1", "panda_finger_joint2"],
        "position": [0.3, 0.02, 0.02],
    }
    assert ros_messages.gripper_opening(joints, config.state) == pytest.approx(0.04)
    franka = {"O_T_EE": [1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 0, 0.4, 0.1, 0.3, 1]}
    assert np.allclose(ros_messages.ee_position(franka, "franka_msgs/FrankaState"), [0.4, 0.1, 0.3])
    command = dataclasses.replace(
        config.command, gripper_field="goal.width", gripper_extra={"goal.speed": 0.1}
    )
    assert ros_messages.gripper_command(True, command) == {"goal": {"speed": 0.1, "width": 0.0}}
    assert (
        ros_messages.stamp_seconds({"header": {"stamp": {"sec": 3, "nanosec": 5 * 10**8}}}) == 3.5
    )
