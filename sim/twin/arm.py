"""The twin's arm: a sim env stepped in real time from the latest ROS commands, with a watchdog.

Turns Twist velocities / PoseStamped targets and gripper commands into contract actions
(`[dx, dy, dz] * MAX_EE_STEP_M`, gripper > 0 closes) and observations into ROS message dicts.
Never imports torch or daml.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.env import MAX_EE_STEP_M, EnvConfig, make_env
from sim.errors import SimError
from sim.twin import messages
from sim.twin.config import TwinConfig
from sim.variation import sample_variation


@dataclass(frozen=True)
class AppliedAction:
    """One control step the twin executed: when, which action, and where the arm then was."""

    time_s: float  # time.monotonic() at the step
    step: int
    action: np.ndarray  # float32 (4,)
    ee_position_m: np.ndarray  # float32 (3,), after the step
    watchdog: bool  # True when the motion command was stale (or absent) -> zero motion


class TwinArm:
    """A `sim` env plus the command state the rosbridge server feeds it.

    Command handlers run on the server's event loop; `reset` and `step` run on the one worker
    thread that owns the env, so PyBullet is only ever touched from that thread.
    """

    HISTORY_STEPS = 2000

    def __init__(self, config: TwinConfig) -> None:
        self.config = config
        self.max_ee_step_m = float(MAX_EE_STEP_M)
        if (
            config.max_ee_step_m is not None
            and abs(config.max_ee_step_m - self.max_ee_step_m) > 1e-9
        ):
            raise SimError(
                f"control.max_ee_step_m = {config.max_ee_step_m} but the sim uses "
                f"MAX_EE_STEP_M = {self.max_ee_step_m}; set it to {self.max_ee_step_m}"
            )
        if config.control_hz != int(config.control_hz):
            raise SimError(
                f"control.control_hz = {config.control_hz}: the sim needs a whole number"
            )
        env_config = EnvConfig(
            image_px=config.image_px,
            control_hz=int(config.control_hz),
            episode_steps=config.episode_steps,
        )
        self.env = make_env(config.task, env_config)
        self.dt_s = 1.0 / config.control_hz
        self.history: deque[AppliedAction] = deque(maxlen=self.HISTORY_STEPS)
        self.obs: dict[str, np.ndarray] = {}
        self.step_index = 0
        self.done = False
        self.success = False
        self.started = False
        self.variation: dict[str, Any] = {}
        self._motion: np.ndarray | None = None  # velocity (m/s) or target (m), per motion_type
        self._motion_time_s = float("-inf")
        self._motion_source: object = None
        self._gripper_close = False

    # ---------------------------------------------------------------- commands (event loop)
    def set_motion(self, msg: Any, source: object) -> None:
        """Store a motion command from client `source`. Raises messages.CommandError if bad."""
        if self.config.topics.motion_type == "geometry_msgs/Twist":
            self._motion = messages.twist_linear(msg)
        else:
            self._motion = messages.pose_target(msg)
        self._motion_time_s = time.monotonic()
        self._motion_source = source

    def set_gripper(self, msg: Any) -> None:
        """Store a gripper command: closes when its value is nearer the configured close value."""
        topics = self.config.topics
        value = messages.field_value(msg, topics.gripper_field)
        close_gap = abs(value - topics.gripper_close_value)
        self._gripper_close = close_gap < abs(value - topics.gripper_open_value)

    def drop_source(self, source: object) -> None:
        """A client disconnected: forget its motion command at once (zero motion from now on)."""
        if self._motion_source is source:
            self._motion = None
            self._motion_source = None

    def command_age_s(self) -> float:
        return time.monotonic() - self._motion_time_s

    def next_action(self) -> tuple[np.ndarray, bool]:
        """The action for the next step and whether the watchdog zeroed its motion.

        Returns:
            (float32 (4,) action, stale) where stale is True if no motion command newer than
            `command_timeout_s` exists.
        """
        action = np.zeros(4, dtype=np.float32)
        action[3] = 1.0 if self._gripper_close else -1.0
        stale = self._motion is None or self.command_age_s() > self.config.command_timeout_s
        if stale or not self.obs:
            return action, True
        if self.config.topics.motion_type == "geometry_msgs/Twist":
            displacement = self._motion * self.dt_s
        else:
            displacement = self._motion - self.obs["state"][:3]
        action[:3] = np.clip(displacement / self.max_ee_step_m, -1.0, 1.0)
        return action, False

    # ---------------------------------------------------------------- env (worker thread)
    def reset(self, seed: int, split: str | None = None) -> dict[str, Any]:
        """Start an episode on the variation sampled from `seed`; motion commands are dropped."""
        split = split or self.config.split
        variation = sample_variation(self.config.task, split, np.random.default_rng(seed))
        self.obs, _ = self.env.reset(seed=seed, variation=variation)
        self.step_index, self.done, self.success = 0, False, False
        self.started = not self.config.hold_until_command
        self.variation = {"seed": seed, "split": split, **variation.to_dict()}
        self._motion, self._motion_source, self._gripper_close = None, None, False
        return self.status()

    def step(self, action: np.ndarray, stale: bool) -> None:
        """Advance one control step; hold still (no step) before the episode's first command
        that moves the arm (if `hold_until_command`: a runner's zero-motion halts while it waits
        for its inputs do not start the clock) and after its last step."""
        moves = not stale and bool(np.any(np.abs(action[:3]) > 1e-6))
        if self.done or (not self.started and not moves):
            return
        self.started = True
        self.obs, _, terminated, truncated, info = self.env.step(action)
        self.step_index += 1
        self.success = self.success or bool(info.get("success", False))
        self.done = bool(terminated or truncated)
        ee = np.asarray(self.obs["state"][:3], dtype=np.float32).copy()
        self.history.append(AppliedAction(time.monotonic(), self.step_index, action, ee, stale))

    def observation_messages(self, stamp_s: float, seq: int) -> dict[str, dict[str, Any]]:
        """The camera, pose and gripper messages of the current observation, by topic name."""
        config, topics = self.config, self.config.topics
        head = messages.header(stamp_s, topics.frame_id, config.ros_version, seq)
        image, state = self.obs["image"], self.obs["state"]
        if topics.image_type == "sensor_msgs/CompressedImage":
            camera = messages.compressed_image(image, head, config.jpeg_quality)
        else:
            camera = messages.raw_image(image, head)
        if topics.gripper_state_type == "sensor_msgs/JointState":
            gripper = messages.finger_joint_state(float(state[3]), topics.gripper_joints, head)
        else:
            gripper = {"data": float(state[3])}
        return {
            topics.image: camera,
            topics.ee_pose: messages.pose_stamped(state[:3], head),
            topics.gripper_state: gripper,
        }

    def status(self) -> dict[str, Any]:
        """Plain-JSON episode status (the /daml_twin/status service response)."""
        state = self.obs.get("state", np.zeros(4, dtype=np.float32))
        return {
            "task": self.config.task,
            "step": self.step_index,
            "episode_steps": int(self.env.episode_steps),
            "started": self.started,
            "done": self.done,
            "success": self.success,
            "ee_position": [float(v) for v in state[:3]],
            "gripper_opening": float(state[3]),
            "command_age_s": min(self.command_age_s(), 1e9),
            "variation": self.variation,
        }

    def close(self) -> None:
        self.env.close()
