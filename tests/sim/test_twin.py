"""The sim twin speaks rosbridge v2 over a real WebSocket (raw `websockets` clients, loopback)."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from websockets.sync.client import connect

from sim.errors import SimError
from sim.twin import BackgroundTwin, load_twin_config
from sim.twin.protocol import TopicStream

CONFIG_PATH = Path(__file__).resolve().parents[2] / "launch" / "panda_sim.toml"
TWIST_X = {"linear": {"x": 0.3, "y": 0.0, "z": 0.0}, "angular": {"x": 0.0, "y": 0.0, "z": 0.0}}


@pytest.fixture(scope="module")
def twin():
    config = load_twin_config(CONFIG_PATH, port=0)
    with BackgroundTwin(config) as running:
        yield running


@pytest.fixture
def client(twin):
    with connect(twin.url, open_timeout=10) as ws:
        yield ws


def send(ws, **message) -> None:
    ws.send(json.dumps(message))


def receive_until(ws, predicate, timeout_s: float = 5.0) -> dict:
    """The first message matching `predicate`; fails the test after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = json.loads(ws.recv(timeout=deadline - time.monotonic()))
        if predicate(message):
            return message
    raise AssertionError("no matching message arrived")


def call_service(ws, service: str, args=None, call_id: str = "call") -> dict:
    send(ws, op="call_service", id=call_id, service=service, args=args or {})
    return receive_until(ws, lambda m: m["op"] == "service_response" and m.get("id") == call_id)


def history(twin):
    return twin.call(lambda: list(twin.server.arm.history))


def test_camera_and_state_arrive_at_roughly_the_control_rate(twin, client):
    topics = twin.config.topics
    for topic in (topics.image, topics.ee_pose, topics.gripper_state):
        send(client, op="subscribe", id=f"sub:{topic}", topic=topic, queue_length=1)
    received: dict[str, list] = {topics.image: [], topics.ee_pose: [], topics.gripper_state: []}
    window_s = 2.0
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        message = json.loads(client.recv(timeout=5))
        received[message["topic"]].append(message["msg"])
    expected = window_s * twin.config.control_hz
    for topic, msgs in received.items():  # loose: a busy 2-core box may run slower
        assert 0.25 * expected <= len(msgs) <= 1.5 * expected, (topic, len(msgs))
    jpeg = base64.b64decode(received[topics.image][-1]["data"])
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (twin.config.image_px, twin.config.image_px, 3)
    seqs = [m["header"]["seq"] for m in received[topics.ee_pose]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    joints = received[topics.gripper_state][-1]
    assert joints["name"] == list(topics.gripper_joints)
    assert sum(joints["position"]) == pytest.approx(0.08, abs=0.01)  # starts open


def test_twist_moves_the_arm_and_the_watchdog_stops_a_silent_client(twin, client):
    call_service(client, "/daml_twin/reset", {"seed": 1})
    start = np.array(call_service(client, "/daml_twin/status")["values"]["ee_position"])
    for _ in range(8):  # 0.3 m/s along +x for ~0.8 s
        send(client, op="publish", topic=twin.config.topics.motion, msg=TWIST_X)
        time.sleep(0.1)
    moved = np.array(call_service(client, "/daml_twin/status")["values"]["ee_position"])
    assert moved[0] - start[0] > 0.05
    assert abs(moved[1] - start[1]) < 0.02
    silent_since = time.monotonic()
    time.sleep(twin.config.command_timeout_s + 0.5)  # connected but silent
    after = [
        a for a in history(twin) if a.time_s > silent_since + twin.config.command_timeout_s + 0.05
    ]
    assert after, "the twin kept stepping"
    assert all(a.watchdog and not a.action[:3].any() for a in after)
    assert np.ptp([a.ee_position_m for a in after[1:]], axis=0).max() < 0.005


def test_disconnect_stops_the_arm_at_once(twin):
    with connect(twin.url) as ws:
        call_service(ws, "/daml_twin/reset", {"seed": 2})
        for _ in range(3):
            send(ws, op="publish", topic=twin.config.topics.motion, msg=TWIST_X)
            time.sleep(0.1)
    closed = time.monotonic()
    time.sleep(0.4)
    after = [a for a in history(twin) if a.time_s > closed + 0.05]
    assert after and all(a.watchdog and not a.action[:3].any() for a in after)


BAD_MESSAGES = [
    ("{not json", "malformed JSON"),
    ("[1, 2]", "JSON object"),
    (json.dumps({"id": "a"}), "no 'op'"),
    (json.dumps({"op": "fly", "id": "b"}), "unknown op 'fly'"),
    (json.dumps({"op": "publish", "id": "c", "topic": "/x"}), "needs field(s) msg"),
    (json.dumps({"op": "publish", "id": "d", "topic": "/nope", "msg": {}}), "unknown topic /nope"),
    (json.dumps({"op": "subscribe", "id": "e", "topic": "/nope"}), "unknown topic /nope"),
    (
        json.dumps(
            {"op": "subscribe", "id": "f", "topic": "/daml_twin/ee_pose", "type": "std_msgs/String"}
        ),
        "has type",
    ),
    (
        json.dumps(
            {"op": "subscribe", "id": "g", "topic": "/daml_twin/ee_pose", "throttle_rate": -5}
        ),
        "throttle_rate",
    ),
    (
        json.dumps(
            {"op": "publish", "id": "h", "topic": "/daml_twin/cmd_vel", "msg": {"linear": 3}}
        ),
        "numeric x, y, z",
    ),
    (
        json.dumps({"op": "publish", "id": "i", "topic": "/daml_twin/ee_pose", "msg": {}}),
        "published by the twin",
    ),
    (json.dumps({"op": "set_level", "id": "j", "level": "loud"}), "level must be one of"),
]


def test_malformed_and_unknown_messages_get_status_errors_and_the_twin_survives(twin, client):
    for raw, expected in BAD_MESSAGES:
        client.send(raw)
        status = receive_until(client, lambda m: m["op"] == "status")
        assert status["level"] == "error" and expected in status["msg"], (raw, status)
    client.send(b"\x00\x01binary")
    assert "binary" in receive_until(client, lambda m: m["op"] == "status")["msg"]
    response = call_service(client, "/daml_twin/status")
    assert response["result"] is True and response["values"]["task"] == twin.config.task


def test_throttle_rate_limits_a_subscription(twin, client):
    send(client, op="subscribe", id="slow", topic=twin.config.topics.ee_pose, throttle_rate=500)
    deadline, count = time.monotonic() + 2.0, 0
    while time.monotonic() < deadline:
        json.loads(client.recv(timeout=5))
        count += 1
    assert 2 <= count <= 6  # 2 Hz instead of 10 Hz


def test_topic_stream_keeps_only_the_newest_queue_length_messages():
    stream = TopicStream("/camera")
    stream.add("a", throttle_ms=0, queue_length=1)
    for frame in ("1", "2", "3"):
        stream.push(frame)
    assert stream.pop(now_s=0.0) == "3" and stream.ready_at() is None
    stream.add("b", throttle_ms=100, queue_length=2)  # merged: lowest throttle 0, longest queue 2
    stream.push("4"), stream.push("5"), stream.push("6")
    assert list(stream.pending) == ["5", "6"]
    assert stream.remove("a") is False and stream.throttle_s == pytest.approx(0.1)
    assert stream.ready_at() == pytest.approx(0.1)


def test_unsubscribe_stops_the_stream(twin, client):
    topic = twin.config.topics.ee_pose
    send(client, op="subscribe", id="s", topic=topic)
    receive_until(client, lambda m: m.get("topic") == topic)
    send(client, op="unsubscribe", id="s", topic=topic)
    time.sleep(0.3)
    while True:  # drain what was already in flight
        try:
            client.recv(timeout=0.3)
        except TimeoutError:
            break
    with pytest.raises(TimeoutError):
        client.recv(timeout=0.5)


def test_reset_service_and_service_errors(twin, client):
    response = call_service(client, "/daml_twin/reset", {"seed": 5, "split": "val"})
    assert response["result"] is True
    assert response["values"]["step"] == 0 and response["values"]["variation"]["seed"] == 5
    bad = call_service(client, "/daml_twin/reset", {"seed": "five"}, call_id="bad")
    assert bad["result"] is False and "seed" in bad["values"]
    unknown = call_service(client, "/no/such/service", call_id="unknown")
    assert unknown["result"] is False


def test_clients_relay_topics_and_services_through_the_twin(twin):
    with connect(twin.url) as provider, connect(twin.url) as caller:
        send(caller, op="subscribe", topic="/chatter", type="std_msgs/String")
        send(provider, op="advertise", topic="/chatter", type="std_msgs/String")
        send(provider, op="advertise_service", service="/add", type="demo/Add")
        time.sleep(0.2)
        send(provider, op="publish", topic="/chatter", msg={"data": "hello"})
        chat = receive_until(caller, lambda m: m.get("topic") == "/chatter")
        assert chat["msg"] == {"data": "hello"}
        send(caller, op="call_service", id="c1", service="/add", args={"a": 2, "b": 3})
        request = receive_until(provider, lambda m: m["op"] == "call_service")
        assert request["args"] == {"a": 2, "b": 3}
        send(
            provider,
            op="service_response",
            id=request["id"],
            service="/add",
            values={"sum": 5},
            result=True,
        )
        response = receive_until(caller, lambda m: m["op"] == "service_response")
        assert response["id"] == "c1" and response["values"] == {"sum": 5} and response["result"]


def test_episode_clock_starts_at_the_first_moving_command_and_the_arm_holds_after_the_end():
    config = dataclasses.replace(load_twin_config(CONFIG_PATH, port=0), episode_steps=3)
    with BackgroundTwin(config) as short, connect(short.url) as ws:
        send(ws, op="subscribe", topic=config.topics.ee_pose)
        time.sleep(0.5)
        status = call_service(ws, "/daml_twin/status")["values"]
        assert status["started"] is False and status["step"] == 0
        zero = {"linear": {"x": 0.0, "y": 0.0, "z": 0.0}, "angular": {"x": 0.0, "y": 0.0, "z": 0.0}}
        send(ws, op="publish", topic=config.topics.motion, msg=zero)  # a waiting runner's halt
        time.sleep(0.5)
        status = call_service(ws, "/daml_twin/status")["values"]
        assert status["started"] is False and status["step"] == 0
        send(ws, op="publish", topic=config.topics.motion, msg=TWIST_X)
        time.sleep(0.8)
        status = call_service(ws, "/daml_twin/status")["values"]
        assert status["started"] and status["done"] and status["step"] == 3
        receive_until(ws, lambda m: m.get("topic") == config.topics.ee_pose)  # still publishing


def test_bad_twin_config_names_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[twin]\nportt = 1\n")
    with pytest.raises(SimError, match="portt"):
        load_twin_config(bad)
    bad.write_text('[camera]\ntype = "sensor_msgs/PointCloud2"\n')
    with pytest.raises(SimError, match="camera.type"):
        load_twin_config(bad)
    with pytest.raises(SimError, match="not found"):
        load_twin_config(tmp_path / "missing.toml")
