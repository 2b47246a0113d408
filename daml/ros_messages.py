"""ROS message dicts (rosbridge JSON form) <-> the arrays the policy uses.

Decodes camera images (JPEG CompressedImage, raw rgb8/bgr8 Image), end-effector poses and
gripper states; builds Twist / PoseStamped / gripper commands. OpenCV is imported inside the
image functions only. Must not import roslibpy, torch or sim.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

from daml.bridge_config import CommandSection, StateSection
from daml.errors import DataError


def decode_image(msg: dict[str, Any], msg_type: str, image_px: int) -> np.ndarray:
    """Camera message -> RGB uint8 (image_px, image_px, 3), centre-cropped square then resized.

    Raises:
        DataError: undecodable data or an unsupported raw encoding.
    """
    import cv2

    data = _bytes(msg.get("data"))
    if msg_type == "sensor_msgs/CompressedImage":
        bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DataError(f"camera: cannot decode a {msg.get('format', '?')!r} CompressedImage")
        rgb = bgr[:, :, ::-1]
    else:
        encoding = msg.get("encoding")
        height, width = int(msg.get("height", 0)), int(msg.get("width", 0))
        step = int(msg.get("step", width * 3))
        if encoding not in ("rgb8", "bgr8") or len(data) < height * step or height * width == 0:
            raise DataError(
                f"camera: raw Image must be rgb8/bgr8 {width}x{height}, got {encoding!r}"
            )
        rows = np.frombuffer(data, dtype=np.uint8)[: height * step].reshape(height, step)
        pixels = rows[:, : width * 3].reshape(height, width, 3)
        rgb = pixels if encoding == "rgb8" else pixels[:, :, ::-1]
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = np.ascontiguousarray(rgb[top : top + side, left : left + side])
    if side == image_px:
        return square
    interpolation = cv2.INTER_AREA if side > image_px else cv2.INTER_LINEAR
    return cv2.resize(square, (image_px, image_px), interpolation=interpolation)


def stamp_seconds(msg: dict[str, Any]) -> float | None:
    """header.stamp in seconds (ROS 1 secs/nsecs or ROS 2 sec/nanosec), None if absent."""
    stamp = msg.get("header", {}).get("stamp") if isinstance(msg.get("header"), dict) else None
    if not isinstance(stamp, dict):
        return None
    secs = stamp.get("secs", stamp.get("sec"))
    nsecs = stamp.get("nsecs", stamp.get("nanosec", 0))
    if not isinstance(secs, int | float) or not isinstance(nsecs, int | float):
        return None
    return float(secs) + float(nsecs) * 1e-9


def ee_position(msg: dict[str, Any], msg_type: str) -> np.ndarray:
    """End-effector position (3,) m from a PoseStamped or a franka_msgs/FrankaState (O_T_EE)."""
    try:
        if msg_type == "franka_msgs/FrankaState":
            # O_T_EE is a 4x4 column-major transform; the translation is elements 12..14.
            return np.asarray(msg["O_T_EE"][12:15], dtype=np.float64)
        position = msg["pose"]["position"]
        return np.array([position["x"], position["y"], position["z"]], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(
            f"state: {msg_type} message without a usable position ({error!r})"
        ) from None


def gripper_opening(msg: dict[str, Any], section: StateSection) -> float:
    """Finger gap (m): scale * sum of the named JointState positions, or scale * Float64 data."""
    try:
        if section.gripper_type == "std_msgs/Float64":
            return section.gripper_scale * float(msg["data"])
        names, positions = list(msg["name"]), list(msg["position"])
        total = sum(float(positions[names.index(joint)]) for joint in section.gripper_joints)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise DataError(
            f"state: gripper message lacks joints {list(section.gripper_joints)} ({error!r})"
        ) from None
    return section.gripper_scale * total


def header(stamp_s: float, frame_id: str, ros_version: int) -> dict[str, Any]:
    """std_msgs/Header dict for ROS 1 (secs/nsecs) or ROS 2 (sec/nanosec)."""
    secs = int(math.floor(stamp_s))
    nsecs = int(round((stamp_s - secs) * 1e9)) % 1_000_000_000
    if ros_version == 2:
        return {"stamp": {"sec": secs, "nanosec": nsecs}, "frame_id": frame_id}
    return {"stamp": {"secs": secs, "nsecs": nsecs}, "frame_id": frame_id}


def twist(velocity_m_s: np.ndarray) -> dict[str, Any]:
    """geometry_msgs/Twist with linear velocity (3,) m/s and no rotation."""
    x, y, z = (float(v) for v in velocity_m_s)
    return {"linear": {"x": x, "y": y, "z": z}, "angular": {"x": 0.0, "y": 0.0, "z": 0.0}}


def pose_stamped(
    target_m: np.ndarray, command: CommandSection, stamp_s: float, ros_version: int
) -> dict[str, Any]:
    """geometry_msgs/PoseStamped target at `target_m` (3,) with the configured orientation."""
    x, y, z = (float(v) for v in target_m)
    qx, qy, qz, qw = command.target_orientation_xyzw
    return {
        "header": header(stamp_s, command.frame_id, ros_version),
        "pose": {
            "position": {"x": x, "y": y, "z": z},
            "orientation": {"x": qx, "y": qy, "z": qz, "w": qw},
        },
    }


def gripper_command(close: bool, command: CommandSection) -> dict[str, Any]:
    """The configured gripper message: open/close value at gripper_field plus constant extras."""
    msg: dict[str, Any] = {}
    for path, value in command.gripper_extra.items():
        _set_path(msg, path, value)
    value = command.gripper_close_value if close else command.gripper_open_value
    _set_path(msg, command.gripper_field, value)
    return msg


def _set_path(msg: dict[str, Any], dotted_path: str, value: Any) -> None:
    *parents, leaf = dotted_path.split(".")
    for name in parents:
        msg = msg.setdefault(name, {})
    msg[leaf] = value


def _bytes(data: Any) -> bytes:
    """uint8[] as rosbridge sends it: base64 text (ROS 1 and 2) or a list of ints."""
    if isinstance(data, str):
        try:
            return base64.b64decode(data, validate=True)
        except ValueError:
            raise DataError("camera: image data is not valid base64") from None
    if isinstance(data, list):
        try:
            return bytes(data)
        except (TypeError, ValueError):
            raise DataError("camera: image data list must hold ints in 0..255") from None
    raise DataError(
        f"camera: image data must be base64 text or a byte list, got {type(data).__name__}"
    )
