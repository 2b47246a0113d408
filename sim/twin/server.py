"""The rosbridge v2 server around the twin arm (JSON over WebSocket, built on `websockets`).

Routes advertise/publish/subscribe between clients and the arm, serves /daml_twin/* services,
relays services advertised by clients, and steps the arm at the control rate. Errors in a
client's message become `status` messages to that client; the server never dies of them.
Never imports torch or daml.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from sim.errors import SimError
from sim.twin import messages
from sim.twin.arm import TwinArm
from sim.twin.config import TwinConfig
from sim.twin.protocol import STATUS_LEVELS, ProtocolError, TopicStream, int_field, parse_message
from sim.twin.session import ClientSession

LOG = logging.getLogger("sim.twin")
RESET_SERVICE = ("/daml_twin/reset", "daml_twin/Reset")
STATUS_SERVICE = ("/daml_twin/status", "daml_twin/Status")


class TwinServer:
    """A rosbridge endpoint whose ROS graph is one simulated arm.

    Args:
        config: twin settings (see `sim.twin.config`).
        arm: the arm to serve; default builds a `TwinArm` from `config` (creates the sim env).
    """

    def __init__(self, config: TwinConfig, arm: TwinArm | None = None) -> None:
        self.config = config
        self.arm = arm or TwinArm(config)
        topics = config.topics
        self.outputs = {
            topics.image: topics.image_type,
            topics.ee_pose: "geometry_msgs/PoseStamped",
            topics.gripper_state: topics.gripper_state_type,
        }
        self.commands: dict[str, tuple[str, Callable[[Any, ClientSession], None]]] = {
            topics.motion: (topics.motion_type, self.arm.set_motion),
            topics.gripper_command: (
                topics.gripper_command_type,
                lambda m, _: self.arm.set_gripper(m),
            ),
        }
        self.client_topics: dict[str, str] = {}  # topics advertised by clients -> type
        self.sessions: set[ClientSession] = set()
        # relay id -> (caller, caller's call id, provider, service) for client-provided services
        self.pending_calls: dict[str, tuple[ClientSession, Any, ClientSession, str]] = {}
        self.port = config.port
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twin-arm")
        self._call_numbers = 0
        self._seq = 0

    # ------------------------------------------------------------------ lifecycle
    async def serve(
        self, stop: asyncio.Event, on_ready: Callable[[int], None] | None = None
    ) -> None:
        """Reset the arm, listen, step the arm at control_hz until `stop` is set, then close.

        Raises:
            SimError: the port is taken, or the sim failed (the error that stopped the arm).
        """
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self.arm.reset, self.config.seed)
            server = await self._listen()
            try:
                control = asyncio.create_task(self._control_loop())
                LOG.info(
                    "sim twin serving %s on ws://%s:%d",
                    self.config.task,
                    self.config.host,
                    self.port,
                )
                if on_ready is not None:
                    on_ready(self.port)
                stopped = asyncio.create_task(stop.wait())
                await asyncio.wait({control, stopped}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                control.cancel()
                await asyncio.gather(control, return_exceptions=True)
                if not control.cancelled() and control.exception() is not None:
                    raise control.exception()
            finally:
                server.close()
                await server.wait_closed()
        finally:
            await loop.run_in_executor(self._executor, self.arm.close)
            self._executor.shutdown(wait=True)

    async def _listen(self) -> Server:
        try:
            server = await serve(
                self._handle, self.config.host, self.config.port, compression=None, max_size=2**22
            )
        except OSError as error:
            raise SimError(
                f"cannot listen on {self.config.host}:{self.config.port} ({error.strerror}); "
                "pick a free --port (0 = any) or stop the other server"
            ) from None
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _control_loop(self) -> None:
        """Step the arm in real time and publish its camera and state after every step."""
        loop = asyncio.get_running_loop()
        period_s = 1.0 / self.config.control_hz
        next_tick = time.monotonic()
        while True:
            action, stale = self.arm.next_action()
            observation = await loop.run_in_executor(self._executor, self._step, action, stale)
            for topic, msg in observation.items():
                self.publish_local(topic, msg)
            next_tick += period_s
            delay = next_tick - time.monotonic()
            if delay < 0:  # fell behind: skip the missed ticks rather than burst
                next_tick, delay = time.monotonic(), 0.0
            await asyncio.sleep(delay)

    def _step(self, action, stale: bool) -> dict[str, dict[str, Any]]:
        self.arm.step(action, stale)
        self._seq += 1
        return self.arm.observation_messages(time.time(), self._seq)

    def publish_local(self, topic: str, msg: dict[str, Any]) -> None:
        """Deliver one message on `topic` to every subscribed client (serialized once)."""
        subscribers = [s for s in self.sessions if topic in s.streams]
        if subscribers:
            frame = json.dumps({"op": "publish", "topic": topic, "msg": msg})
            for session in subscribers:
                session.push(topic, frame)

    # ------------------------------------------------------------------ connections
    async def _handle(self, connection: ServerConnection) -> None:
        session = ClientSession(connection)
        self.sessions.add(session)
        LOG.info("%s connected from %s", session.name, connection.remote_address)
        sender = asyncio.create_task(session.run_sender())
        try:
            async for raw in connection:
                self._dispatch(session, raw)
        except ConnectionClosed:
            pass
        finally:
            sender.cancel()
            self._forget(session)
            LOG.info("%s disconnected", session.name)

    def _dispatch(self, session: ClientSession, raw: str | bytes) -> None:
        try:
            message = parse_message(raw)
            getattr(self, f"_op_{message['op']}")(session, message)
        except ProtocolError as error:
            session.send_status(error.level, str(error), error.message_id)
        except messages.CommandError as error:
            session.send_status("error", str(error), _message_id(raw))

    def _forget(self, session: ClientSession) -> None:
        """Drop a client's streams, topics and services; its motion command stops at once."""
        self.sessions.discard(session)
        self.arm.drop_source(session)
        for topic in session.advertised:
            if not any(topic in other.advertised for other in self.sessions):
                self.client_topics.pop(topic, None)
        for relay_id, (caller, caller_id, provider, service) in list(self.pending_calls.items()):
            if session in (caller, provider):
                del self.pending_calls[relay_id]
                if provider is session:
                    caller.send(
                        _service_response(service, caller_id, "service provider disconnected")
                    )

    # ------------------------------------------------------------------ topic ops
    def _topic_type(self, topic: str) -> str | None:
        if topic in self.outputs:
            return self.outputs[topic]
        if topic in self.commands:
            return self.commands[topic][0]
        return self.client_topics.get(topic)

    def _op_advertise(self, session: ClientSession, message: dict[str, Any]) -> None:
        topic, kind = message["topic"], message["type"]
        if topic in self.outputs:
            raise ProtocolError(f"topic {topic} is published by the twin itself", message.get("id"))
        known = self._topic_type(topic)
        if known is not None and known != kind:
            raise ProtocolError(
                f"topic {topic} already has type {known}, cannot advertise it as {kind}",
                message.get("id"),
            )
        self.client_topics.setdefault(topic, kind)
        session.advertised[topic] = kind

    def _op_unadvertise(self, session: ClientSession, message: dict[str, Any]) -> None:
        topic = message["topic"]
        if session.advertised.pop(topic, None) is None:
            raise ProtocolError(
                f"topic {topic} is not advertised by this client", message.get("id"), "warning"
            )
        if not any(topic in other.advertised for other in self.sessions):
            self.client_topics.pop(topic, None)

    def _op_publish(self, session: ClientSession, message: dict[str, Any]) -> None:
        topic, msg = message["topic"], message["msg"]
        if topic in self.outputs:
            raise ProtocolError(f"topic {topic} is published by the twin itself", message.get("id"))
        if self._topic_type(topic) is None:
            raise ProtocolError(
                f"unknown topic {topic}: advertise it first (twin command topics: "
                f"{', '.join(self.commands)})",
                message.get("id"),
            )
        if not isinstance(msg, dict):
            raise ProtocolError(f"publish on {topic}: 'msg' must be an object", message.get("id"))
        if topic in self.commands:
            self.commands[topic][1](msg, session)
        self.publish_local(topic, msg)

    def _op_subscribe(self, session: ClientSession, message: dict[str, Any]) -> None:
        topic, kind = message["topic"], message.get("type")
        known = self._topic_type(topic)
        if known is None and kind is None:
            raise ProtocolError(f"unknown topic {topic} and no 'type' given", message.get("id"))
        if known is not None and kind not in (None, "", known):
            raise ProtocolError(f"topic {topic} has type {known}, not {kind}", message.get("id"))
        throttle_ms, queue_length = (
            int_field(message, "throttle_rate"),
            int_field(message, "queue_length"),
        )
        if message.get("compression", "none") not in ("none", None):
            session.send_status(
                "warning",
                f"compression {message['compression']!r} unsupported; sending JSON",
                message.get("id"),
            )
        stream = session.streams.setdefault(topic, TopicStream(topic))
        stream.add(str(message.get("id", "")), throttle_ms, queue_length)

    def _op_unsubscribe(self, session: ClientSession, message: dict[str, Any]) -> None:
        topic, subscription_id = message["topic"], message.get("id")
        stream = session.streams.get(topic)
        if stream is None:
            raise ProtocolError(f"not subscribed to {topic}", subscription_id, "warning")
        if subscription_id is not None and str(subscription_id) not in stream.subscriptions:
            subscription_id = None  # unknown id: the spec's no-id behaviour (drop all)
        if stream.remove(None if subscription_id is None else str(subscription_id)):
            del session.streams[topic]

    def _op_set_level(self, session: ClientSession, message: dict[str, Any]) -> None:
        if message["level"] not in STATUS_LEVELS:
            raise ProtocolError(f"level must be one of {STATUS_LEVELS}", message.get("id"))
        session.level = message["level"]

    # ------------------------------------------------------------------ service ops
    def _op_call_service(self, session: ClientSession, message: dict[str, Any]) -> None:
        service, call_id = message["service"], message.get("id")
        args = message.get("args") or {}
        if service == RESET_SERVICE[0]:
            asyncio.get_running_loop().create_task(self._reset(session, call_id, args))
        elif service == STATUS_SERVICE[0]:
            session.send(_service_response(service, call_id, self.arm.status(), ok=True))
        elif (provider := self._service_provider(service)) is not None:
            self._call_numbers += 1
            relay_id = f"twin_call:{self._call_numbers}"
            self.pending_calls[relay_id] = (session, call_id, provider, service)
            provider.send({"op": "call_service", "id": relay_id, "service": service, "args": args})
        else:
            session.send(_service_response(service, call_id, f"unknown service {service}"))
            raise ProtocolError(f"unknown service {service}", call_id)

    async def _reset(self, session: ClientSession, call_id: Any, args: Any) -> None:
        if not isinstance(args, dict):
            args = dict(zip(("seed", "split"), args, strict=False))
        seed, split = args.get("seed", self.config.seed), args.get("split")
        if (
            isinstance(seed, bool)
            or not isinstance(seed, int)
            or split not in (None, "train", "val", "test")
        ):
            text = f"reset takes {{'seed': int, 'split': train|val|test}}, got {args}"
            session.send(_service_response(RESET_SERVICE[0], call_id, text))
            return
        loop = asyncio.get_running_loop()
        try:
            status = await loop.run_in_executor(self._executor, self.arm.reset, seed, split)
        except SimError as error:
            session.send(_service_response(RESET_SERVICE[0], call_id, str(error)))
            return
        session.send(_service_response(RESET_SERVICE[0], call_id, status, ok=True))

    def _service_provider(self, service: str) -> ClientSession | None:
        return next((s for s in self.sessions if service in s.services), None)

    def _op_service_response(self, session: ClientSession, message: dict[str, Any]) -> None:
        pending = self.pending_calls.pop(str(message.get("id")), None)
        if pending is None or pending[2] is not session:
            raise ProtocolError(
                f"no pending call {message.get('id')!r} to answer", message.get("id")
            )
        caller, caller_id, _, service = pending
        values = message.get("values", {})
        caller.send(_service_response(service, caller_id, values, ok=bool(message["result"])))

    def _op_advertise_service(self, session: ClientSession, message: dict[str, Any]) -> None:
        service = message["service"]
        owner = self._service_provider(service)
        if service in (RESET_SERVICE[0], STATUS_SERVICE[0]) or owner not in (None, session):
            raise ProtocolError(f"service {service} is already provided", message.get("id"))
        session.services[service] = message["type"]

    def _op_unadvertise_service(self, session: ClientSession, message: dict[str, Any]) -> None:
        if session.services.pop(message["service"], None) is None:
            raise ProtocolError(
                f"service {message['service']} is not advertised by this client",
                message.get("id"),
                "warning",
            )


def _service_response(service: str, call_id: Any, values: Any, ok: bool = False) -> dict[str, Any]:
    """A `service_response`; a failure carries its reason as the values (as rosbridge does)."""
    response = {"op": "service_response", "service": service, "values": values, "result": ok}
    if call_id is not None:
        response["id"] = call_id
    return response


def _message_id(raw: str | bytes) -> Any:
    try:
        return json.loads(raw).get("id")
    except (ValueError, AttributeError):
        return None
