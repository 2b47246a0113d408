"""rosbridge v2 protocol pieces with no I/O: message parsing/validation, status messages, and the
per-client topic stream that honours `throttle_rate` and `queue_length`.

Spec: RobotWebTools/rosbridge_suite ROSBRIDGE_PROTOCOL.md. Never imports torch, daml or pybullet.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

# op -> fields the message must carry (besides "op"); ids are optional everywhere.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "advertise": ("topic", "type"),
    "unadvertise": ("topic",),
    "publish": ("topic", "msg"),
    "subscribe": ("topic",),
    "unsubscribe": ("topic",),
    "call_service": ("service",),
    "service_response": ("service", "result"),
    "advertise_service": ("service", "type"),
    "unadvertise_service": ("service",),
    "set_level": ("level",),
}
KNOWN_OPS = tuple(REQUIRED_FIELDS)

# Status levels, least to most verbose; a client sees statuses at or below its level.
STATUS_LEVELS = ("none", "error", "warning", "info")
DEFAULT_STATUS_LEVEL = "error"  # rosbridge's default

# A stream with queue_length 0 and no throttle forwards everything; this cap only bounds the
# memory a client that stopped reading can pin (rosbridge bounds it by its socket buffers).
UNQUEUED_STREAM_CAP = 1000


class ProtocolError(ValueError):
    """A client message that cannot be honoured; becomes a `status` error sent to that client."""

    def __init__(self, message: str, message_id: Any = None, level: str = "error") -> None:
        super().__init__(message)
        self.message_id = message_id
        self.level = level


def parse_message(raw: str | bytes) -> dict[str, Any]:
    """Decode one rosbridge frame into a dict and check its op and required fields.

    Raises:
        ProtocolError: malformed JSON, not an object, missing/unknown op, missing field.
    """
    if isinstance(raw, bytes):
        raise ProtocolError(
            "binary frames (CBOR/BSON) are not supported by the twin; send JSON text"
        )
    try:
        message = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ProtocolError(f"malformed JSON: {error.msg} at char {error.pos}") from None
    if not isinstance(message, dict):
        raise ProtocolError(
            f"a rosbridge message must be a JSON object, got {type(message).__name__}"
        )
    message_id = message.get("id")
    op = message.get("op")
    if op is None:
        raise ProtocolError("message has no 'op' field", message_id)
    if op not in REQUIRED_FIELDS:
        raise ProtocolError(f"unknown op {op!r}; supported ops: {', '.join(KNOWN_OPS)}", message_id)
    missing = [name for name in REQUIRED_FIELDS[op] if name not in message]
    if missing:
        raise ProtocolError(f"op {op!r} needs field(s) {', '.join(missing)}", message_id)
    for name in ("topic", "service", "type"):
        if name in message and not isinstance(message[name], str):
            raise ProtocolError(f"op {op!r}: field {name!r} must be a string", message_id)
    return message


def status_message(level: str, text: str, message_id: Any = None) -> dict[str, Any]:
    """A rosbridge `status` message (sent to the client whose message caused it)."""
    message: dict[str, Any] = {"op": "status", "level": level, "msg": text}
    if message_id is not None:
        message["id"] = message_id
    return message


def level_allows(client_level: str, status_level: str) -> bool:
    """True if a client at `client_level` should receive a status of `status_level`."""
    return 0 < STATUS_LEVELS.index(status_level) <= STATUS_LEVELS.index(client_level)


def int_field(message: dict[str, Any], name: str, default: int = 0) -> int:
    """A non-negative integer option such as throttle_rate (ms) or queue_length."""
    value = message.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError(
            f"op {message['op']!r}: {name} must be a non-negative integer, got {value!r}",
            message.get("id"),
        )
    return value


@dataclass
class TopicStream:
    """What one client receives from one topic: the merge of its subscriptions to that topic.

    Per the spec, several subscriptions of one client to one topic are served as one stream at
    the lowest throttle_rate and the highest queue_length. `queue_length` N > 0 keeps only the N
    newest unsent messages (the oldest is dropped when full), so a slow client of a camera topic
    with queue_length 1 always gets the newest image. With a throttle and queue_length 0 the
    newest message waits for the throttle to pass; with neither, every message is forwarded.
    """

    topic: str
    subscriptions: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (ms, len)
    pending: deque[str] = field(default_factory=deque)
    last_sent_s: float = float("-inf")

    @property
    def throttle_s(self) -> float:
        return min(ms for ms, _ in self.subscriptions.values()) / 1000.0

    @property
    def queue_length(self) -> int:
        return max(length for _, length in self.subscriptions.values())

    def add(self, subscription_id: str, throttle_ms: int, queue_length: int) -> None:
        """Add (or replace) one subscription and resize the buffer to the merged settings."""
        self.subscriptions[subscription_id] = (throttle_ms, queue_length)
        self._resize()

    def remove(self, subscription_id: str | None) -> bool:
        """Drop one subscription (or all when None); returns True if the stream is now empty."""
        if subscription_id is None:
            self.subscriptions.clear()
        else:
            self.subscriptions.pop(subscription_id, None)
        if self.subscriptions:
            self._resize()
        return not self.subscriptions

    def push(self, text: str) -> None:
        """Queue one serialized `publish` frame; the deque drops the oldest when full."""
        self.pending.append(text)

    def ready_at(self) -> float | None:
        """Monotonic time at which the next pending frame may go out, or None if none pending."""
        if not self.pending:
            return None
        return self.last_sent_s + self.throttle_s

    def pop(self, now_s: float) -> str:
        """Take the oldest pending frame and record the send time (for the throttle)."""
        self.last_sent_s = now_s
        return self.pending.popleft()

    def _resize(self) -> None:
        length = self.queue_length
        if length == 0:
            length = 1 if self.throttle_s > 0 else UNQUEUED_STREAM_CAP
        self.pending = deque(self.pending, maxlen=length)
