"""The roslibpy bridge and the closed loop against the sim twin, over a real loopback WebSocket.

roslibpy runs on its asyncio transport, whose event loop (unlike Twisted's reactor) can be
started again, so every test opens and closes its own `RosBridge` in this process.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from websockets.protocol import State
from websockets.sync.client import connect

import daml.cli
import daml.errors
from daml.bridge import RosBridge
from daml.bridge_config import LaunchConfig, load_launch_config
from daml.runner import ClosedLoopRunner
from daml.safety import MotionLimits
from sim.twin import BackgroundTwin, load_twin_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = ROOT / "launch" / "panda_sim.toml"


class ConstantPolicy:
    """A scripted stand-in for AdaptedPolicy: the same action every step."""

    image_px = 64

    def __init__(self, action) -> None:
        self.action = np.asarray(action, dtype=np.float32)
        self.inputs: list[tuple[tuple[int, ...], np.ndarray]] = []

    def act(self, image: np.ndarray, state: np.ndarray) -> np.ndarray:
        self.inputs.append((image.shape, state.copy()))
        return self.action


def launch_config(url: str, **camera_changes) -> LaunchConfig:
    config = load_launch_config(CONFIG_PATH)
    return dataclasses.replace(
        config,
        rosbridge=dataclasses.replace(config.rosbridge, url=url),
        camera=dataclasses.replace(config.camera, **camera_changes),
    )


@pytest.fixture(scope="module")
def twin():
    with BackgroundTwin(load_twin_config(CONFIG_PATH, port=0)) as running:
        yield running


def reset_twin(twin, seed: int = 0) -> None:
    with connect(twin.url) as ws:
        ws.send(
            json.dumps(
                {
                    "op": "call_service",
                    "id": "r",
                    "service": "/daml_twin/reset",
                    "args": {"seed": seed},
                }
            )
        )
        while json.loads(ws.recv(timeout=10))["op"] != "service_response":
            pass


def applied_since(twin, since_s: float):
    return [a for a in twin.call(lambda: list(twin.server.arm.history)) if a.time_s > since_s]


def status_when_done(twin, timeout_s: float = 10.0) -> dict:
    """The twin's episode status once the episode has ended (or at the timeout).

    The twin skips control ticks it is late for (a busy CPU), so its last step may come a few
    ticks after the runner's last command.
    """
    deadline = time.monotonic() + timeout_s
    status = twin.call(lambda: twin.server.arm.status())
    while not status["done"] and time.monotonic() < deadline:
        time.sleep(0.05)
        status = twin.call(lambda: twin.server.arm.status())
    return status


def run_in_thread(runner: ClosedLoopRunner) -> tuple[threading.Thread, list]:
    result: list = []
    thread = threading.Thread(target=lambda: result.append(runner.run()), daemon=True)
    thread.start()
    return thread, result


def test_bridge_receives_camera_and_state_at_roughly_the_control_rate(twin):
    with RosBridge(launch_config(twin.url)) as bridge:
        time.sleep(2.0)
        counts = bridge.message_counts()
        observation = bridge.observation()
    expected = 2.0 * twin.config.control_hz
    assert all(0.25 * expected <= n <= 1.5 * expected for n in counts.values()), counts
    assert observation.image.shape == (64, 64, 3) and observation.image.dtype == np.uint8
    assert observation.state.dtype == np.float32 and observation.state.shape == (4,)
    twin_state = twin.call(lambda: twin.server.arm.obs["state"])
    assert np.allclose(observation.state, twin_state, atol=0.02)
    assert observation.image_latency_s is not None and observation.image_latency_s >= 0


def test_the_twin_arm_moves_as_commanded(twin):
    reset_twin(twin, seed=3)
    policy = ConstantPolicy([0.5, 0.0, -0.25, 1.0])
    config = launch_config(twin.url)
    with RosBridge(config) as bridge:
        start = time.monotonic()
        summary = ClosedLoopRunner(
            bridge, policy, MotionLimits.from_config(config), max_steps=12
        ).run()
    assert summary.steps == 12 and summary.stop_reason.startswith("reached --max-steps")
    commanded = [a for a in applied_since(twin, start) if not a.watchdog]
    assert len(commanded) >= 6
    # Twist = action * max_ee_step_m * control_hz; the twin turns it back into the same action.
    moving = [a for a in commanded if a.action[:3].any()]
    assert moving and np.allclose(moving[0].action, [0.5, 0.0, -0.25, 1.0], atol=1e-5)
    assert moving[-1].ee_position_m[0] - moving[0].ee_position_m[0] > 0.05
    assert all(shape == (64, 64, 3) for shape, _ in policy.inputs)


def test_closing_the_bridge_returns_after_the_close_handshake(twin):
    """The zero motion and the close frame are on the wire before close() returns."""
    with RosBridge(launch_config(twin.url)) as bridge:
        assert twin.call(lambda: len(twin.server.sessions)) == 1
    assert not bridge.connected
    states = twin.call(lambda: [s.connection.state for s in twin.server.sessions])
    assert all(state is not State.OPEN for state in states)  # the twin has the close frame


def test_dry_run_publishes_nothing(twin):
    reset_twin(twin, seed=2)
    config = launch_config(twin.url)
    with RosBridge(config, dry_run=True) as bridge:
        runner = ClosedLoopRunner(
            bridge, ConstantPolicy([1, 0, 0, 1]), MotionLimits.from_config(config), max_steps=5
        )
        assert runner.run().steps == 5
        assert bridge.commands_sent == 0 and bridge.last_command is not None
    status = twin.call(lambda: twin.server.arm.status())
    assert status["started"] is False and status["step"] == 0  # not a single command arrived


class ImageSource:
    """A second rosbridge client that publishes camera frames on its own topic, then stops."""

    def __init__(self, url: str, topic: str, seconds: float) -> None:
        self.url, self.topic, self.seconds = url, topic, seconds
        self.stopped_at = float("inf")
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        _, jpeg = cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))
        data = base64.b64encode(jpeg).decode()
        with connect(self.url) as ws:
            ws.send(
                json.dumps(
                    {"op": "advertise", "topic": self.topic, "type": "sensor_msgs/CompressedImage"}
                )
            )
            end = time.monotonic() + self.seconds
            while time.monotonic() < end:
                stamp = {"secs": int(time.time()), "nsecs": 0}
                msg = {
                    "header": {"stamp": stamp, "frame_id": "cam"},
                    "format": "jpeg",
                    "data": data,
                }
                ws.send(json.dumps({"op": "publish", "topic": self.topic, "msg": msg}))
                time.sleep(0.05)
            self.stopped_at = time.monotonic()
            time.sleep(3.0)  # stay connected, silent: the images just go stale


def test_stale_images_make_the_client_publish_zero_motion(twin):
    reset_twin(twin, seed=4)
    start = time.monotonic()
    config = launch_config(twin.url, topic="/test/camera/compressed")
    source = ImageSource(twin.url, "/test/camera/compressed", seconds=1.5)
    source.thread.start()
    with RosBridge(config) as bridge:
        runner = ClosedLoopRunner(
            bridge, ConstantPolicy([0.5, 0, 0, -1]), MotionLimits.from_config(config)
        )
        thread, _ = run_in_thread(runner)
        while source.stopped_at == float("inf"):
            time.sleep(0.05)
        time.sleep(config.safety.image_timeout_s + 0.8)
        runner.request_stop("test over")
        thread.join(10)
    moved = [
        a for a in applied_since(twin, start) if a.time_s < source.stopped_at and a.action[0] > 0
    ]
    assert moved, "the arm never moved while images were fresh"
    halted = applied_since(twin, source.stopped_at + config.safety.image_timeout_s + 0.3)
    # Fresh commands (not the twin's own watchdog) that are zero: the client's watchdog.
    assert halted and all(not a.watchdog and not a.action[:3].any() for a in halted)
    assert runner.status.watchdog_stops > 0 and "camera image" in runner.status.halted


def test_nan_actions_halt_the_arm(twin):
    reset_twin(twin, seed=6)
    config = launch_config(twin.url)
    with RosBridge(config) as bridge:
        start = time.monotonic()
        runner = ClosedLoopRunner(
            bridge, ConstantPolicy([np.nan, 0, 0, 1]), MotionLimits.from_config(config)
        )
        thread, result = run_in_thread(runner)
        time.sleep(1.5)
        runner.request_stop("test over")
        thread.join(10)
    assert result[0].steps == 0 and result[0].nan_stops > 0
    fresh = [a for a in applied_since(twin, start + 1.0) if not a.watchdog]
    assert all(not a.action[:3].any() for a in fresh)
    # only zero motion arrived, and zero motion does not start the twin's episode clock
    assert twin.call(lambda: twin.server.arm.status())["started"] is False


KILLABLE_CLIENT = textwrap.dedent(
    """
    import dataclasses, sys, numpy as np
    from daml.bridge import RosBridge
    from daml.bridge_config import load_launch_config
    from daml.runner import ClosedLoopRunner
    from daml.safety import MotionLimits, action_is_finite, safe_target, safe_velocity, stale_reason

    class Forward:
        image_px = 64
        def act(self, image, state):
            return np.array([0.4, 0.0, 0.0, -1.0], np.float32)

    config = load_launch_config(sys.argv[1])
    rosbridge = dataclasses.replace(config.rosbridge, url=sys.argv[2])
    config = dataclasses.replace(config, rosbridge=rosbridge)
    with RosBridge(config) as bridge:
        print("connected", flush=True)
        ClosedLoopRunner(bridge, Forward(), MotionLimits.from_config(config)).run()
    """
)


def test_killing_the_client_mid_episode_stops_the_arm(twin):
    reset_twin(twin, seed=5)
    start = time.monotonic()
    client = subprocess.Popen(
        [sys.executable, "-c", KILLABLE_CLIENT, str(CONFIG_PATH), twin.url],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert client.stdout.readline().strip() == "connected"
        deadline = time.monotonic() + 15
        while (
            not any(a.action[0] > 0 for a in applied_since(twin, start))
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        assert any(a.action[0] > 0 for a in applied_since(twin, start)), (
            "the client never moved the arm"
        )
    finally:
        client.kill()  # SIGKILL: no chance to send a stop message
        client.wait(10)
        client.stdout.close()
    killed = time.monotonic()
    time.sleep(twin.config.command_timeout_s + 0.7)
    after = applied_since(twin, killed + twin.config.command_timeout_s)
    assert after and all(a.watchdog and not a.action[:3].any() for a in after)
    positions = np.array([a.ee_position_m for a in after[1:]])
    assert np.ptp(positions, axis=0).max() < 0.005


def test_the_bridge_reconnects_and_resumes_only_on_fresh_data(unused_port):
    port = unused_port
    twin_config = load_twin_config(CONFIG_PATH, port=port)
    config = launch_config(f"ws://127.0.0.1:{port}")
    first = BackgroundTwin(twin_config).start()
    bridge = RosBridge(config).connect()
    runner = ClosedLoopRunner(
        bridge, ConstantPolicy([0.1, 0, 0, -1]), MotionLimits.from_config(config)
    )
    thread, result = run_in_thread(runner)
    try:
        time.sleep(1.0)
        steps_before = runner.status.steps
        first.stop()
        time.sleep(0.5)
        assert runner.status.halted is not None and not bridge.connected
        halted_steps = runner.status.steps
        with BackgroundTwin(twin_config):
            deadline = time.monotonic() + 15
            while runner.status.steps <= halted_steps + 3 and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        runner.request_stop("test over")
        thread.join(10)
        bridge.close()
    assert steps_before > 0 and result[0].steps > halted_steps + 3
    assert result[0].reconnects >= 1


def test_an_adapted_policy_drives_the_sim_arm_for_a_full_episode(twin, adapted_policy, capsys):
    reset_twin(twin, seed=7)
    episode_steps = twin.call(lambda: twin.server.arm.status()["episode_steps"])
    argv = [
        "run",
        "--rosbridge",
        twin.url,
        "--policy",
        str(adapted_policy),
        "--config",
        str(CONFIG_PATH),
    ]
    start = time.monotonic()
    assert daml.cli.main([*argv, "--max-steps", str(episode_steps)]) == 0
    assert f"{episode_steps} steps at" in capsys.readouterr().err
    status = status_when_done(twin)
    assert status["started"] and status["done"] and status["step"] == episode_steps
    episode = [a for a in applied_since(twin, start)]
    assert len(episode) == episode_steps
    assert sum(not a.watchdog for a in episode) >= 0.8 * episode_steps  # driven by the policy
    assert np.ptp([a.ee_position_m for a in episode], axis=0).max() > 0.005  # and it moved


def test_commands_rosbridge_refuses_are_reported_in_its_words(
    twin, adapted_policy, tmp_path, capsys
):
    """A launch config whose motion type is not the topic's: rosbridge answers every command
    with a `status` error. roslibpy has no handler for that op (it logged a traceback about
    the missing handler); `daml run` logs each distinct error once and counts them all."""
    config = tmp_path / "wrong_type.toml"
    config.write_text(
        CONFIG_PATH.read_text().replace(
            'motion_type = "geometry_msgs/Twist"', 'motion_type = "geometry_msgs/PoseStamped"'
        )
    )
    assert "PoseStamped" in config.read_text()
    reset_twin(twin, seed=3)
    argv = ["run", "--rosbridge", twin.url, "--policy", str(adapted_policy)]
    assert daml.cli.main([*argv, "--config", str(config), "--max-steps", "5"]) == 0
    err = capsys.readouterr().err
    refused = "cannot advertise it as geometry_msgs/PoseStamped"
    assert err.count("daml.bridge: rosbridge error: topic /daml_twin/cmd_vel already has") == 1
    assert refused in err and "No handler registered" not in err
    errors = int(err.split(" rosbridge errors)")[0].rsplit(", ", 1)[1])
    assert errors >= 5  # the advertise, and each motion command after it
    assert "daml run: rosbridge's last error: message has no field 'linear'" in err


def test_a_port_that_speaks_no_websocket_is_a_clear_error_and_the_bridge_recovers(twin):
    with socket.socket() as silent:  # accepts TCP connections, never answers the handshake
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        config = launch_config(f"ws://127.0.0.1:{silent.getsockname()[1]}")
        config = dataclasses.replace(
            config, rosbridge=dataclasses.replace(config.rosbridge, connect_timeout_s=1.0)
        )
        with pytest.raises(daml.errors.ConnectionFailed, match="no rosbridge WebSocket handshake"):
            RosBridge(config).connect()
    with RosBridge(launch_config(twin.url)) as bridge:  # roslibpy's loop restarts
        deadline = time.monotonic() + 10
        while bridge.observation() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert bridge.observation() is not None


def test_an_http_server_is_named_in_one_error_without_autobahns_retry_lines(capfd, caplog):
    """A plain HTTP server refuses each WebSocket upgrade: autobahn logs a line per retry, which
    the bridge holds and quotes once, in its ConnectionFailed."""
    from http.server import HTTPServer, SimpleHTTPRequestHandler

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = launch_config(f"ws://127.0.0.1:{server.server_address[1]}")
        config = dataclasses.replace(
            config, rosbridge=dataclasses.replace(config.rosbridge, connect_timeout_s=1.5)
        )
        capfd.readouterr()
        with pytest.raises(daml.errors.ConnectionFailed) as failure:
            RosBridge(config).connect()
    finally:
        server.shutdown()
        server.server_close()
    assert "no rosbridge WebSocket handshake" in str(failure.value)
    assert "(last: dropping connection to peer" in str(failure.value)
    assert "dropping connection" not in capfd.readouterr().err
    assert not [r for r in caplog.records if r.name.startswith(("autobahn", "daml.bridge"))
                and r.levelno >= 30]  # fmt: skip


def test_status_messages_are_counted_and_each_text_logged_once_up_to_a_cap():
    """A server that numbers its messages must not grow the set of logged texts without end."""
    import logging

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(record.getMessage())

    warnings: list[str] = []
    bridge, logger, keep = (
        RosBridge(load_launch_config(CONFIG_PATH)),
        logging.getLogger("daml.bridge"),
        Keep(logging.WARNING),
    )
    logger.addHandler(keep)
    try:
        for number in range(150):
            bridge._on_status({"op": "status", "level": "error", "msg": f"refused #{number}"})
        bridge._on_status({"op": "status", "level": "error", "msg": "refused #0"})
        bridge._on_status({"op": "status", "level": "info", "msg": "fyi"})
    finally:
        logger.removeHandler(keep)
    assert len(warnings) == 100 and warnings[0] == "rosbridge error: refused #0"
    assert bridge.server_errors == 151 and bridge.last_server_error == "refused #0"
    assert len(bridge._logged_server_errors) == 100
