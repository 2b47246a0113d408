"""The sim twin's settings, read from a launch/*.toml file shared with the policy runner.

The twin reads [twin] plus the topic/type entries of [camera], [state], [command], [control] and
[rosbridge]; keys only the runner uses are ignored here (the runner validates them). Never
imports torch or daml.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.errors import SimError

IMAGE_TYPES = ("sensor_msgs/CompressedImage", "sensor_msgs/Image")
EE_POSE_TYPES = ("geometry_msgs/PoseStamped",)
GRIPPER_STATE_TYPES = ("sensor_msgs/JointState", "std_msgs/Float64")
MOTION_TYPES = ("geometry_msgs/Twist", "geometry_msgs/PoseStamped")
TWIN_SECTION_KEYS = frozenset(
    {
        "task",
        "host",
        "port",
        "seed",
        "split",
        "command_timeout_s",
        "jpeg_quality",
        "episode_steps",
        "hold_until_command",
    }
)


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SimError(f"{key} = {value!r} is not supported by the sim twin; use one of {choices}")


@dataclass(frozen=True)
class TwinTopics:
    """Topic names and types the twin publishes (camera, state) and obeys (commands)."""

    image: str = "/daml_twin/camera/image/compressed"
    image_type: str = "sensor_msgs/CompressedImage"
    ee_pose: str = "/daml_twin/ee_pose"
    gripper_state: str = "/daml_twin/gripper/joint_states"
    gripper_state_type: str = "sensor_msgs/JointState"
    gripper_joints: tuple[str, ...] = ("panda_finger_joint1", "panda_finger_joint2")
    motion: str = "/daml_twin/cmd_vel"
    motion_type: str = "geometry_msgs/Twist"
    gripper_command: str = "/daml_twin/gripper/command"
    gripper_command_type: str = "std_msgs/Float64"
    gripper_field: str = "data"
    gripper_open_value: float = 0.08
    gripper_close_value: float = 0.0
    frame_id: str = "panda_link0"

    def __post_init__(self) -> None:
        _check_choice("camera.type", self.image_type, IMAGE_TYPES)
        _check_choice("state.gripper_type", self.gripper_state_type, GRIPPER_STATE_TYPES)
        _check_choice("command.motion_type", self.motion_type, MOTION_TYPES)
        names = [self.image, self.ee_pose, self.gripper_state, self.motion, self.gripper_command]
        for name in names:
            if not name.startswith("/"):
                raise SimError(f"topic {name!r} must start with '/'; fix it in the launch config")
        if len(set(names)) != len(names):
            raise SimError(f"twin topics must be distinct, got {names}; fix the launch config")
        if not self.gripper_joints:
            raise SimError("state.gripper_joints must name at least one finger joint")
        if self.gripper_open_value == self.gripper_close_value:
            raise SimError("command.gripper_open_value must differ from gripper_close_value")


@dataclass(frozen=True)
class TwinConfig:
    """Everything `sim.twin` needs: the sim task, the server address, rates and topics."""

    task: str = "pick_place"
    host: str = "127.0.0.1"  # loopback by default; pass --host to expose the twin on a network
    port: int = 9090
    image_px: int = 64
    control_hz: float = 10.0
    max_ee_step_m: float | None = None  # if set, must equal sim's MAX_EE_STEP_M (checked on start)
    command_timeout_s: float = 0.3  # motion command older than this -> zero motion
    jpeg_quality: int = 90
    seed: int = 0  # seed of the first episode's variation; /daml_twin/reset picks others
    split: str = "test"  # variation split the twin samples from
    episode_steps: int | None = None  # None: the task's default
    hold_until_command: bool = True  # an episode's clock starts at its first motion command
    ros_version: int = 1
    topics: TwinTopics = field(default_factory=TwinTopics)

    def __post_init__(self) -> None:
        for name in ("port", "image_px", "jpeg_quality", "seed", "ros_version"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise SimError(f"twin.{name} must be an integer, got {value!r}")
        for name in ("control_hz", "command_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise SimError(f"twin.{name} must be a number, got {value!r}")
        if self.seed < 0:
            raise SimError(f"twin.seed must be >= 0, got {self.seed}")
        if not 0 <= self.port <= 65535:
            raise SimError(f"twin.port must be in 0..65535 (0 = any free port), got {self.port}")
        if not 8 <= self.image_px <= 1024:
            raise SimError(f"camera.image_px must be in 8..1024, got {self.image_px}")
        if not 0.5 <= self.control_hz <= 200:
            raise SimError(f"control.control_hz must be in 0.5..200, got {self.control_hz}")
        if not 0 < self.command_timeout_s <= 10:
            raise SimError(
                f"twin.command_timeout_s must be in (0, 10], got {self.command_timeout_s}"
            )
        if not 1 <= self.jpeg_quality <= 100:
            raise SimError(f"twin.jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        if self.episode_steps is not None and self.episode_steps < 1:
            raise SimError(f"twin.episode_steps must be >= 1, got {self.episode_steps}")
        if self.ros_version not in (1, 2):
            raise SimError(f"rosbridge.ros_version must be 1 or 2, got {self.ros_version}")


def load_twin_config(path: str | Path, **overrides: Any) -> TwinConfig:
    """Read the twin's settings from a launch TOML file; `overrides` replace [twin] keys.

    Raises:
        SimError: missing/unreadable file, bad TOML, unknown [twin] key or a bad value.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))  # TOML is UTF-8
    except FileNotFoundError:
        raise SimError(
            f"launch config {str(path)!r} not found; pass --config launch/panda_sim.toml"
        ) from None
    except IsADirectoryError:
        raise SimError(f"launch config {str(path)!r} is a folder; pass the .toml file") from None
    except OSError as error:
        reason = error.strerror or error
        raise SimError(f"cannot read launch config {str(path)!r}: {reason}") from None
    except UnicodeDecodeError as error:
        reason = f"not UTF-8 text ({error.reason})"
        raise SimError(f"cannot read launch config {str(path)!r}: {reason}") from None
    except tomllib.TOMLDecodeError as error:
        raise SimError(f"launch config {str(path)!r} is not valid TOML: {error}") from None
    twin = dict(data.get("twin", {}))
    unknown = sorted(set(twin) - TWIN_SECTION_KEYS)
    if unknown:
        raise SimError(
            f"unknown key(s) {unknown} in [twin] of {path}; valid: {sorted(TWIN_SECTION_KEYS)}"
        )
    twin.update({key: value for key, value in overrides.items() if value is not None})
    camera, state, command = (data.get(name, {}) for name in ("camera", "state", "command"))
    control, rosbridge = data.get("control", {}), data.get("rosbridge", {})
    try:
        topics = TwinTopics(
            image=camera.get("topic", TwinTopics.image),
            image_type=camera.get("type", TwinTopics.image_type),
            ee_pose=state.get("ee_pose_topic", TwinTopics.ee_pose),
            gripper_state=state.get("gripper_topic", TwinTopics.gripper_state),
            gripper_state_type=state.get("gripper_type", TwinTopics.gripper_state_type),
            gripper_joints=tuple(state.get("gripper_joints", TwinTopics.gripper_joints)),
            motion=command.get("motion_topic", TwinTopics.motion),
            motion_type=command.get("motion_type", TwinTopics.motion_type),
            gripper_command=command.get("gripper_topic", TwinTopics.gripper_command),
            gripper_command_type=command.get("gripper_type", TwinTopics.gripper_command_type),
            gripper_field=command.get("gripper_field", TwinTopics.gripper_field),
            gripper_open_value=float(command.get("gripper_open_value", 0.08)),
            gripper_close_value=float(command.get("gripper_close_value", 0.0)),
            frame_id=command.get("frame_id", TwinTopics.frame_id),
        )
        _check_choice(
            "state.ee_pose_type", state.get("ee_pose_type", EE_POSE_TYPES[0]), EE_POSE_TYPES
        )
        return TwinConfig(
            image_px=int(camera.get("image_px", 64)),
            control_hz=float(control.get("control_hz", 10.0)),
            max_ee_step_m=control.get("max_ee_step_m"),
            ros_version=int(rosbridge.get("ros_version", 1)),
            topics=topics,
            **twin,
        )
    except (TypeError, ValueError) as error:
        if isinstance(error, SimError):
            raise
        raise SimError(f"bad value in launch config {path}: {error}") from None
