"""The robot-side launch config (launch/*.toml): rosbridge address, topics, rates, safety limits.

Validated frozen dataclasses read with tomllib; the [twin] section belongs to `sim.twin` and is
skipped here. Pure data: must not import roslibpy, torch, sim or OpenCV.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from daml.config_values import check_types
from daml.errors import ConfigError

IMAGE_TYPES = ("sensor_msgs/CompressedImage", "sensor_msgs/Image")
EE_POSE_TYPES = ("geometry_msgs/PoseStamped", "franka_msgs/FrankaState")
GRIPPER_STATE_TYPES = ("sensor_msgs/JointState", "std_msgs/Float64")
MOTION_TYPES = ("geometry_msgs/Twist", "geometry_msgs/PoseStamped")
OTHER_SECTIONS = ("twin",)  # read by sim.twin, ignored here


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _require_topic(key: str, topic: str) -> None:
    _require(
        isinstance(topic, str) and topic.startswith("/"),
        f"{key} = {topic!r} must be a topic name starting with '/'",
    )


def _require_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    _require(value in choices, f"{key} = {value!r} is not supported; use one of {list(choices)}")


def _sequence(key: str, value: Any, kind: type | tuple[type, ...], what: str) -> tuple:
    """A TOML array of `kind` items as a tuple (a string is refused, not split into letters)."""
    _require(
        isinstance(value, list | tuple)
        and all(isinstance(item, kind) and not isinstance(item, bool) for item in value),
        f"{key} = {value!r} must be an array of {what}",
    )
    return tuple(value)


@dataclass(frozen=True)
class RosbridgeSection:
    """Where rosbridge_server listens and how to (re)connect."""

    url: str = "ws://127.0.0.1:9090"
    ros_version: int = 1  # header stamps: 1 -> secs/nsecs, 2 -> sec/nanosec
    connect_timeout_s: float = 5.0  # first connection; fail with one clear error after this
    reconnect_initial_s: float = 0.5  # first back-off delay after a dropped connection
    reconnect_max_s: float = 5.0  # longest back-off delay

    def __post_init__(self) -> None:
        rosbridge_address(self.url)
        _require(
            self.ros_version in (1, 2),
            f"rosbridge.ros_version must be 1 or 2, got {self.ros_version}",
        )
        _require(self.connect_timeout_s > 0, "rosbridge.connect_timeout_s must be > 0")
        _require(
            0 < self.reconnect_initial_s <= self.reconnect_max_s,
            "rosbridge.reconnect_initial_s must be > 0 and <= reconnect_max_s, got "
            f"{self.reconnect_initial_s} / {self.reconnect_max_s}",
        )


@dataclass(frozen=True)
class CameraSection:
    """The camera topic; images are centre-cropped to a square and resized to image_px."""

    topic: str
    type: str = "sensor_msgs/CompressedImage"
    image_px: int = 64  # square side fed to the policy; must equal the policy's image_px

    def __post_init__(self) -> None:
        _require_topic("camera.topic", self.topic)
        _require_choice("camera.type", self.type, IMAGE_TYPES)
        _require(
            8 <= self.image_px <= 1024, f"camera.image_px must be in 8..1024, got {self.image_px}"
        )


@dataclass(frozen=True)
class StateSection:
    """Robot state: end-effector position (pose topic) and gripper opening (state topic)."""

    ee_pose_topic: str
    gripper_topic: str
    ee_pose_type: str = "geometry_msgs/PoseStamped"
    gripper_type: str = "sensor_msgs/JointState"
    gripper_joints: tuple[str, ...] = ("panda_finger_joint1", "panda_finger_joint2")
    gripper_scale: float = 1.0  # opening (m) = scale * (sum of joint positions | Float64 data)

    def __post_init__(self) -> None:
        joints = _sequence("state.gripper_joints", self.gripper_joints, str, "joint names")
        object.__setattr__(self, "gripper_joints", joints)
        _require_topic("state.ee_pose_topic", self.ee_pose_topic)
        _require_topic("state.gripper_topic", self.gripper_topic)
        _require_choice("state.ee_pose_type", self.ee_pose_type, EE_POSE_TYPES)
        _require_choice("state.gripper_type", self.gripper_type, GRIPPER_STATE_TYPES)
        _require(
            self.gripper_type != "sensor_msgs/JointState" or len(self.gripper_joints) > 0,
            "state.gripper_joints must name the finger joints when gripper_type is JointState",
        )
        _require(
            self.gripper_scale > 0, f"state.gripper_scale must be > 0, got {self.gripper_scale}"
        )


@dataclass(frozen=True)
class CommandSection:
    """Motion and gripper command topics. Gripper commands go out only when they change."""

    motion_topic: str
    gripper_topic: str
    motion_type: str = "geometry_msgs/Twist"
    frame_id: str = "panda_link0"  # header frame of PoseStamped targets
    target_orientation_xyzw: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    gripper_type: str = "std_msgs/Float64"
    gripper_field: str = "data"  # dotted path of the value, e.g. "goal.width"
    gripper_open_value: float | bool = 0.08
    gripper_close_value: float | bool = 0.0
    gripper_extra: dict[str, Any] = field(default_factory=dict)  # constant fields, dotted paths

    def __post_init__(self) -> None:
        quat = _sequence(
            "command.target_orientation_xyzw", self.target_orientation_xyzw, int | float, "numbers"
        )
        object.__setattr__(self, "target_orientation_xyzw", quat)
        _require_topic("command.motion_topic", self.motion_topic)
        _require_topic("command.gripper_topic", self.gripper_topic)
        _require_choice("command.motion_type", self.motion_type, MOTION_TYPES)
        _require(
            len(quat) == 4 and abs(math.sqrt(sum(q * q for q in quat)) - 1.0) < 1e-3,
            f"command.target_orientation_xyzw must be a unit quaternion (x, y, z, w), got {quat}",
        )
        _require(
            "/" in self.gripper_type and self.gripper_field != "",
            f"command.gripper_type {self.gripper_type!r} must look like pkg/Type "
            "and gripper_field must name its value",
        )
        _require(
            self.gripper_open_value != self.gripper_close_value,
            "command.gripper_open_value must differ from gripper_close_value",
        )


@dataclass(frozen=True)
class ControlSection:
    """Policy rate and action scale (must match what the policy was trained with)."""

    control_hz: float = 10.0
    max_ee_step_m: float = 0.06  # end-effector metres per step at |action| = 1 (sim MAX_EE_STEP_M)

    def __post_init__(self) -> None:
        _require(
            0.5 <= self.control_hz <= 200,
            f"control.control_hz must be in 0.5..200, got {self.control_hz}",
        )
        _require(
            0 < self.max_ee_step_m <= 0.5,
            f"control.max_ee_step_m must be in (0, 0.5], got {self.max_ee_step_m}",
        )


@dataclass(frozen=True)
class SafetySection:
    """Workspace box, speed limit and watchdog timeouts."""

    workspace_min_m: tuple[float, float, float]
    workspace_max_m: tuple[float, float, float]
    max_speed_m_s: float = 0.1
    image_timeout_s: float = 0.5
    state_timeout_s: float = 0.5

    def __post_init__(self) -> None:
        low = _sequence("safety.workspace_min_m", self.workspace_min_m, int | float, "numbers")
        high = _sequence("safety.workspace_max_m", self.workspace_max_m, int | float, "numbers")
        object.__setattr__(self, "workspace_min_m", low)
        object.__setattr__(self, "workspace_max_m", high)
        _require(
            len(low) == 3 and len(high) == 3 and all(a < b for a, b in zip(low, high, strict=True)),
            f"safety.workspace_min_m {list(low)} must be below workspace_max_m {list(high)} "
            "on each of x, y, z",
        )
        _require(
            0 < self.max_speed_m_s <= 2.0,
            f"safety.max_speed_m_s must be in (0, 2], got {self.max_speed_m_s}",
        )
        for key in ("image_timeout_s", "state_timeout_s"):
            _require(
                0 < getattr(self, key) <= 10,
                f"safety.{key} must be in (0, 10], got {getattr(self, key)}",
            )


SECTIONS = {
    "rosbridge": RosbridgeSection,
    "camera": CameraSection,
    "state": StateSection,
    "command": CommandSection,
    "control": ControlSection,
    "safety": SafetySection,
}


@dataclass(frozen=True)
class LaunchConfig:
    """One launch/*.toml file as the policy runner sees it."""

    rosbridge: RosbridgeSection
    camera: CameraSection
    state: StateSection
    command: CommandSection
    control: ControlSection
    safety: SafetySection

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def load_launch_config(path: str | Path) -> LaunchConfig:
    """Read and validate a launch TOML file.

    Raises:
        ConfigError: missing file, bad TOML, unknown section/key, missing key or bad value;
            the message names the file, the key and the fix.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))  # TOML is UTF-8
    except FileNotFoundError:
        raise ConfigError(
            f"launch config {str(path)!r} not found; pass --config launch/panda_sim.toml"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"launch config {str(path)!r} is a folder; pass the .toml file") from None
    except OSError as error:
        reason = error.strerror or error
        raise ConfigError(f"cannot read launch config {str(path)!r}: {reason}") from None
    except UnicodeDecodeError as error:
        reason = f"not UTF-8 text ({error.reason})"
        raise ConfigError(f"cannot read launch config {str(path)!r}: {reason}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"launch config {str(path)!r} is not valid TOML: {error}") from None
    unknown = sorted(set(data) - set(SECTIONS) - set(OTHER_SECTIONS))
    _require(not unknown, f"{path}: unknown section(s) {unknown}; valid: {sorted(SECTIONS)}")
    try:
        sections = {name: _section(cls, name, data.get(name, {})) for name, cls in SECTIONS.items()}
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    return LaunchConfig(**sections)


def _section(cls: type, name: str, table: Any) -> Any:
    _require(isinstance(table, dict), f"[{name}] must be a table")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - names)
    _require(not unknown, f"unknown key(s) {unknown} in [{name}]; valid: {sorted(names)}")
    required = [
        f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
    ]
    missing = [key for key in required if key not in table]
    _require(not missing, f"[{name}] is missing required key(s) {missing}")
    check_types(name, cls, table)
    try:
        return cls(**table)
    except TypeError as error:  # e.g. a string where a number belongs
        raise ConfigError(f"[{name}] has a value of the wrong type: {error}") from None


def rosbridge_address(url: str) -> tuple[str, int, bool]:
    """(host, port, secure) of a ws:// or wss:// rosbridge URL; port defaults to 9090."""
    parts = urlsplit(url) if isinstance(url, str) else None
    _require(
        parts is not None and parts.scheme in ("ws", "wss") and bool(parts.hostname),
        f"rosbridge url {url!r} must look like ws://HOST:9090",
    )
    try:
        port = parts.port or 9090
    except ValueError:
        raise ConfigError(f"rosbridge url {url!r} has a bad port") from None
    return parts.hostname, port, parts.scheme == "wss"
