"""A robot over rosbridge: camera + state in, motion + gripper commands out (roslibpy client).

The only module that imports roslibpy. It uses roslibpy's asyncio transport: its event loop
can be started again after `terminate()`, unlike Twisted's reactor. Topic callbacks only store
the newest raw message; decoding happens when the control loop asks for an observation.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from daml import ros_messages
from daml.bridge_config import LaunchConfig, rosbridge_address
from daml.errors import ConnectionFailed

LOG = logging.getLogger("daml.bridge")


@contextlib.contextmanager
def _held_log(name: str) -> Iterator[list[str]]:
    """Hold logger `name`'s records (as message lines) for the block instead of printing them.

    While connecting, autobahn logs "dropping connection to peer ..." at every handshake retry;
    the one-line ConnectionFailed quotes the last of them instead.
    """
    lines: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger, handler = logging.getLogger(name), _Keep()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


@dataclass(frozen=True)
class Observation:
    """The newest camera image and robot state, with their ages on this machine's clock."""

    image: np.ndarray  # uint8 (image_px, image_px, 3) RGB
    state: np.ndarray  # float32 (4,): ee x, y, z (m), finger gap (m)
    image_age_s: float  # seconds since the image arrived
    state_age_s: float  # seconds since the older of the pose and gripper messages arrived
    image_latency_s: float | None  # arrival minus header stamp (needs synchronised clocks)


@dataclass
class _Newest:
    """Newest raw message of one topic and when it arrived (time.monotonic / time.time)."""

    msg: dict[str, Any] | None = None
    arrived_s: float = -math.inf
    arrived_wall_s: float = 0.0
    count: int = 0


class RosBridge:
    """Client side of a rosbridge connection for one arm. Use as a context manager.

    Args:
        config: the launch config (topics, types, timeouts).
        url: rosbridge URL, default `config.rosbridge.url`.
        dry_run: subscribe as usual but only log commands, never advertise or publish.
    """

    def __init__(self, config: LaunchConfig, url: str | None = None, dry_run: bool = False) -> None:
        self.config = config
        self.url = url or config.rosbridge.url
        self.host, self.port, _secure = rosbridge_address(self.url)
        self.dry_run = dry_run
        self.connections = 0  # successful (re)connections so far
        self.commands_sent = 0
        self.last_command: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._newest = {name: _Newest() for name in ("image", "pose", "gripper")}
        self._connected_since = math.inf
        self._gripper_closed: bool | None = None
        self._ros: Any = None
        self._closing = False
        self._closed = threading.Event()  # set by the "close" event after close() began
        self._publishers: dict[str, Any] = {}
        self.server_errors = 0  # rosbridge `status` messages of level error or warning
        self.last_server_error: str | None = None
        self._logged_server_errors: set[str] = set()

    # ------------------------------------------------------------------ connection
    def connect(self) -> RosBridge:
        """Connect, subscribe to camera and state, advertise commands (unless dry run).

        Raises:
            ConnectionFailed: nothing listens at the URL, or no rosbridge handshake within
                rosbridge.connect_timeout_s.
        """
        import roslibpy
        from roslibpy.comm import select_factory

        timeout_s = self.config.rosbridge.connect_timeout_s
        try:
            socket.create_connection((self.host, self.port), timeout=timeout_s).close()
        except OSError as error:
            raise ConnectionFailed(
                f"cannot reach rosbridge at {self.url} ({error.strerror or error}); start "
                "rosbridge_server (or `daml twin`) there, or fix --rosbridge"
            ) from None
        factory = select_factory("asyncio")
        factory.set_initial_delay(self.config.rosbridge.reconnect_initial_s)
        factory.set_max_delay(self.config.rosbridge.reconnect_max_s)
        ros = roslibpy.Ros(self.url, transport="asyncio")
        ros.on("ready", self._on_ready)
        ros.on("close", self._on_close)
        with _held_log("autobahn") as autobahn_lines:
            try:
                ros.run(timeout=timeout_s)
            except roslibpy.core.RosTimeoutError:
                ros.terminate()  # also stops the reconnect attempts
                last = f" (last: {autobahn_lines[-1]})" if autobahn_lines else ""
                raise ConnectionFailed(
                    f"{self.url} accepted a TCP connection but no rosbridge WebSocket handshake "
                    f"within {timeout_s} s{last}; is it a rosbridge_server?"
                ) from None
        self._ros = ros
        if self.connections == 0:  # connected before the "ready" listener was registered
            self._on_ready()
        ros.factory.on("ready", self._take_statuses)  # every reconnect's new protocol, and
        ros.factory.on_ready(self._take_statuses)  # this one's (called now: it is connected)
        self._subscribe(roslibpy)
        return self

    def _subscribe(self, roslibpy: Any) -> None:
        camera, state, command = self.config.camera, self.config.state, self.config.command
        for name, topic, kind in (
            ("image", camera.topic, camera.type),
            ("pose", state.ee_pose_topic, state.ee_pose_type),
            ("gripper", state.gripper_topic, state.gripper_type),
        ):
            subscriber = roslibpy.Topic(self._ros, topic, kind, queue_length=1)
            subscriber.subscribe(lambda msg, name=name: self._store(name, msg))
        if not self.dry_run:
            for name, topic, kind in (
                ("motion", command.motion_topic, command.motion_type),
                ("gripper", command.gripper_topic, command.gripper_type),
            ):
                publisher = roslibpy.Topic(self._ros, topic, kind, queue_size=1)
                publisher.advertise()
                self._publishers[name] = publisher

    @property
    def connected(self) -> bool:
        return self._ros is not None and bool(self._ros.is_connected)

    def close(self) -> None:
        """Send zero motion (if connected), then disconnect and stop reconnecting.

        Returns once the WebSocket closing handshake is done, so the zero motion and the close
        have reached rosbridge before the caller (often a process about to exit) goes on; after
        rosbridge.connect_timeout_s without it, logs a warning and returns.
        """
        ros = self._ros
        if ros is None:
            return
        self._closing = True
        if ros.is_connected:
            self._closed.clear()
            self.publish_stop()
            ros.close()
            timeout_s = self.config.rosbridge.connect_timeout_s
            if not self._closed.wait(timeout_s):
                LOG.warning(
                    "%s did not finish the close handshake within %s s", self.url, timeout_s
                )
        else:
            ros.terminate()  # also stops the reconnect back-off
        self._ros = None

    def __enter__(self) -> RosBridge:
        return self.connect()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _on_ready(self, *_proto: object) -> None:
        with self._lock:
            self._connected_since = time.monotonic()
            self._gripper_closed = None  # re-send the gripper command after a reconnect
        self.connections += 1
        LOG.info("connected to rosbridge at %s (connection %d)", self.url, self.connections)

    def _take_statuses(self, proto: Any) -> Any:
        """Route rosbridge's `status` messages (why it refused a command) to _on_status.

        roslibpy (2.1) lists the `status` op without a handler, so each one raised inside its
        receive loop and was logged as a traceback about a missing handler, and the server's
        own words were lost; its register_message_handlers refuses an op it lists, hence the
        dict.
        """
        handlers = getattr(proto, "_message_handlers", None)
        if isinstance(handlers, dict) and handlers.get("status") is None:
            handlers["status"] = self._on_status
        return proto

    def _on_status(self, message: dict[str, Any]) -> None:
        """A rosbridge status message: errors and warnings are counted, and each distinct
        text is logged once (a refused command repeats at the control rate)."""
        level, text = str(message.get("level", "")), str(message.get("msg", ""))
        if level not in ("error", "warning"):
            LOG.info("rosbridge %s: %s", level or "status", text)
            return
        with self._lock:
            self.server_errors += 1
            self.last_server_error = text
            first = text not in self._logged_server_errors and len(self._logged_server_errors) < 100
            if first:  # (at most 100 texts kept: a server may number its messages)
                self._logged_server_errors.add(text)
        if first:
            LOG.warning("rosbridge %s: %s", level, text)

    def _on_close(self, *_proto: object) -> None:
        if self._closing:
            self._closed.set()
            return
        if self.connections == 0:  # no handshake yet: connect() raises once its timeout is up
            LOG.debug("rosbridge at %s closed before the handshake; retrying", self.url)
            return
        LOG.warning("lost the rosbridge connection to %s; reconnecting with back-off", self.url)

    # ------------------------------------------------------------------ inputs
    def _store(self, name: str, msg: dict[str, Any]) -> None:
        with self._lock:
            newest = self._newest[name]
            newest.msg, newest.count = msg, newest.count + 1
            newest.arrived_s, newest.arrived_wall_s = time.monotonic(), time.time()

    def message_counts(self) -> dict[str, int]:
        """How many camera, pose and gripper messages arrived so far."""
        with self._lock:
            return {name: newest.count for name, newest in self._newest.items()}

    def input_ages(self) -> tuple[float | None, float | None]:
        """(image age, state age) in seconds; None if none arrived since the last (re)connect."""
        now = time.monotonic()
        with self._lock:
            ages = {
                name: now - newest.arrived_s if newest.arrived_s >= self._connected_since else None
                for name, newest in self._newest.items()
            }
        pose, gripper = ages["pose"], ages["gripper"]
        state_age = None if pose is None or gripper is None else max(pose, gripper)
        return ages["image"], state_age

    def observation(self) -> Observation | None:
        """Decode the newest image and state; None until both arrived since the last connect.

        Raises:
            DataError: a message that cannot be decoded (wrong encoding, missing fields).
        """
        image_age, state_age = self.input_ages()
        if image_age is None or state_age is None:
            return None
        with self._lock:
            image, pose, gripper = (self._newest[n] for n in ("image", "pose", "gripper"))
            image_msg, pose_msg, gripper_msg = image.msg, pose.msg, gripper.msg
            arrived_wall_s = image.arrived_wall_s
        camera, state = self.config.camera, self.config.state
        frame = ros_messages.decode_image(image_msg, camera.type, camera.image_px)
        position = ros_messages.ee_position(pose_msg, state.ee_pose_type)
        opening = ros_messages.gripper_opening(gripper_msg, state)
        stamp = ros_messages.stamp_seconds(image_msg)
        return Observation(
            image=frame,
            state=np.append(position, opening).astype(np.float32),
            image_age_s=image_age,
            state_age_s=state_age,
            image_latency_s=None if stamp is None else arrived_wall_s - stamp,
        )

    # ------------------------------------------------------------------ outputs
    def publish_motion(self, velocity_m_s: np.ndarray, ee_position_m: np.ndarray) -> None:
        """Command an end-effector velocity (3,) m/s (already clamped by daml.safety).

        A Twist interface gets the velocity; a PoseStamped interface gets the point one
        control step ahead of `ee_position_m` (3,).
        """
        command = self.config.command
        if command.motion_type == "geometry_msgs/Twist":
            msg = ros_messages.twist(velocity_m_s)
        else:
            target = (
                np.asarray(ee_position_m)
                + np.asarray(velocity_m_s) / self.config.control.control_hz
            )
            msg = ros_messages.pose_stamped(
                target, command, time.time(), self.config.rosbridge.ros_version
            )
        self._publish("motion", command.motion_topic, msg)

    def publish_stop(self, ee_position_m: np.ndarray | None = None) -> None:
        """Zero motion: a zero Twist, or (PoseStamped) a target at the current position.

        A PoseStamped interface with no fresh position gets nothing: its controller keeps the
        last target, which was at most one clamped step ahead of the arm.
        """
        if self.config.command.motion_type == "geometry_msgs/Twist":
            self._publish(
                "motion", self.config.command.motion_topic, ros_messages.twist(np.zeros(3))
            )
        elif ee_position_m is not None:
            self.publish_motion(np.zeros(3), ee_position_m)

    def publish_gripper(self, close: bool) -> None:
        """Open or close the gripper; sent only when the wanted state changes (or after connect)."""
        with self._lock:
            if self._gripper_closed is close:
                return
            self._gripper_closed = close
        msg = ros_messages.gripper_command(close, self.config.command)
        self._publish("gripper", self.config.command.gripper_topic, msg)

    def _publish(self, name: str, topic: str, msg: dict[str, Any]) -> None:
        self.last_command = {"topic": topic, "msg": msg}
        if self.dry_run:
            LOG.info("dry run, not published: %s %s", topic, msg)
            return
        # Never queue while disconnected: roslibpy would send stale commands on reconnect.
        if not self.connected:
            return
        import roslibpy

        self._publishers[name].publish(roslibpy.Message(msg))
        self.commands_sent += 1
