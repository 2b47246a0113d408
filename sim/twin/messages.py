"""ROS message dicts (rosbridge JSON form) that the sim twin publishes and the commands it parses.

uint8[] fields are base64 strings, as rosbridge sends them. Uses OpenCV for JPEG; never imports
torch or daml.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

GRIPPER_DOWN_XYZW = (1.0, 0.0, 0.0, 0.0)  # the sim gripper points down; its pose has no yaw


class CommandError(ValueError):
    """A command message that does not fit its topic's type; becomes a `status` error."""


def header(stamp_s: float, frame_id: str, ros_version: int, seq: int = 0) -> dict[str, Any]:
    """std_msgs/Header (ROS 1: seq + secs/nsecs) or std_msgs/msg/Header (ROS 2: sec/nanosec)."""
    secs = int(math.floor(stamp_s))
    nsecs = int(round((stamp_s - secs) * 1e9)) % 1_000_000_000
    if ros_version == 2:
        return {"stamp": {"sec": secs, "nanosec": nsecs}, "frame_id": frame_id}
    return {"seq": seq, "stamp": {"secs": secs, "nsecs": nsecs}, "frame_id": frame_id}


def compressed_image(image: np.ndarray, head: dict[str, Any], jpeg_quality: int) -> dict[str, Any]:
    """sensor_msgs/CompressedImage (JPEG) from an RGB uint8 (H, W, 3) image."""
    import cv2

    ok, encoded = cv2.imencode(
        ".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    )
    if not ok:
        raise RuntimeError(f"OpenCV could not JPEG-encode an image of shape {image.shape}")
    return {"header": head, "format": "jpeg", "data": base64.b64encode(encoded).decode("ascii")}


def raw_image(image: np.ndarray, head: dict[str, Any]) -> dict[str, Any]:
    """sensor_msgs/Image, encoding rgb8, from an RGB uint8 (H, W, 3) image."""
    height, width, _ = image.shape
    return {
        "header": head,
        "height": height,
        "width": width,
        "encoding": "rgb8",
        "is_bigendian": 0,
        "step": width * 3,
        "data": base64.b64encode(np.ascontiguousarray(image).tobytes()).decode("ascii"),
    }


def pose_stamped(position_m: np.ndarray, head: dict[str, Any]) -> dict[str, Any]:
    """geometry_msgs/PoseStamped of the end effector (position (3,), fixed downward orientation)."""
    x, y, z = (float(v) for v in position_m)
    qx, qy, qz, qw = GRIPPER_DOWN_XYZW
    return {
        "header": head,
        "pose": {
            "position": {"x": x, "y": y, "z": z},
            "orientation": {"x": qx, "y": qy, "z": qz, "w": qw},
        },
    }


def finger_joint_state(
    opening_m: float, joint_names: tuple[str, ...], head: dict[str, Any]
) -> dict[str, Any]:
    """sensor_msgs/JointState of the fingers; the gap is split evenly across the named joints."""
    share = float(opening_m) / len(joint_names)
    return {
        "header": head,
        "name": list(joint_names),
        "position": [share] * len(joint_names),
        "velocity": [],
        "effort": [],
    }


def twist_linear(msg: Any) -> np.ndarray:
    """Linear velocity (3,) m/s of a geometry_msgs/Twist; angular velocity is ignored."""
    return _xyz(_get(msg, "linear"), "Twist.linear")


def pose_target(msg: Any) -> np.ndarray:
    """Target position (3,) of a geometry_msgs/PoseStamped (orientation is ignored)."""
    return _xyz(_get(_get(msg, "pose"), "position"), "PoseStamped.pose.position")


def field_value(msg: Any, dotted_path: str) -> float:
    """The number (or bool, as 0/1) at `dotted_path` in a message, e.g. "data" or "goal.width"."""
    value = msg
    for name in dotted_path.split("."):
        value = _get(value, name)
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise CommandError(f"field {dotted_path!r} must be a finite number or bool, got {value!r}")
    return float(value)


def _get(msg: Any, name: str) -> Any:
    if not isinstance(msg, dict) or name not in msg:
        raise CommandError(f"message has no field {name!r}")
    return msg[name]


def _xyz(vector: Any, what: str) -> np.ndarray:
    try:
        values = np.array([float(vector[axis]) for axis in "xyz"], dtype=np.float64)
    except (TypeError, KeyError, ValueError):
        raise CommandError(
            f"{what} must be an object with numeric x, y, z; got {vector!r}"
        ) from None
    if not np.all(np.isfinite(values)):
        raise CommandError(f"{what} must be finite, got {values.tolist()}")
    return values
