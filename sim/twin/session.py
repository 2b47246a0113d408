"""One connected rosbridge client: its subscriptions, advertisements, status level and sender.

A single sender task per client drains direct replies first, then topic streams as their
throttles allow, so a slow client only ever delays (and, with queue_length, drops) its own
messages. Never imports torch or daml.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from sim.twin.protocol import DEFAULT_STATUS_LEVEL, TopicStream, level_allows, status_message

_client_numbers = itertools.count(1)


class ClientSession:
    """State the server keeps for one WebSocket client (touched only on the event loop)."""

    def __init__(self, connection: ServerConnection) -> None:
        self.connection = connection
        self.name = f"client{next(_client_numbers)}"
        self.level = DEFAULT_STATUS_LEVEL
        self.streams: dict[str, TopicStream] = {}
        self.advertised: dict[str, str] = {}  # topic -> type this client publishes
        self.services: dict[str, str] = {}  # service -> type this client serves
        self._direct: deque[str] = deque()
        self._wake = asyncio.Event()

    def send(self, message: dict[str, Any]) -> None:
        """Queue a direct reply (status, service response, forwarded call) ahead of topics."""
        self._direct.append(json.dumps(message))
        self._wake.set()

    def send_status(self, level: str, text: str, message_id: Any = None) -> None:
        """Send a `status` message if the client's level (set_level) asks for this level."""
        if level_allows(self.level, level):
            self.send(status_message(level, text, message_id))

    def push(self, topic: str, frame: str) -> None:
        """Offer one serialized publish frame of `topic` to this client's stream, if subscribed."""
        stream = self.streams.get(topic)
        if stream is not None:
            stream.push(frame)
            self._wake.set()

    async def run_sender(self) -> None:
        """Send queued frames until the connection closes."""
        try:
            while True:
                await self._send_due()
                self._wake.clear()
                waits = [t for s in self.streams.values() if (t := s.ready_at()) is not None]
                timeout = max(0.0, min(waits) - time.monotonic()) if waits else None
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    pass
        except ConnectionClosed:
            return

    async def _send_due(self) -> None:
        """Send every direct frame, then every stream frame whose throttle has passed."""
        while True:
            while self._direct:
                await self.connection.send(self._direct.popleft())
            now = time.monotonic()
            due = [
                stream
                for stream in self.streams.values()
                if (ready := stream.ready_at()) is not None and ready <= now
            ]
            if not due:
                return
            for stream in due:
                if stream.pending and self.streams.get(stream.topic) is stream:
                    await self.connection.send(stream.pop(time.monotonic()))
