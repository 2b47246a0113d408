"""Running the twin: in the foreground until SIGINT/SIGTERM, or on a background thread.

Never imports torch or daml.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from sim.errors import SimError
from sim.twin.config import TwinConfig
from sim.twin.server import TwinServer

T = TypeVar("T")
READY_PREFIX = "sim twin: serving"  # bring-up scripts wait for this line on stdout


def serve_forever(config: TwinConfig) -> None:
    """Serve until SIGINT or SIGTERM, then stop the arm and close every connection.

    Prints one ready line (`sim twin: serving <task> on ws://HOST:PORT`) once clients can
    connect, so a launcher can wait for it (and learn the port when `config.port` is 0).
    """

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = TwinServer(config)

        def announce(port: int) -> None:
            print(f"{READY_PREFIX} {config.task} on ws://{config.host}:{port}", flush=True)

        await server.serve(stop, on_ready=announce)
        print("sim twin: stopped", file=sys.stderr, flush=True)

    asyncio.run(main())


class BackgroundTwin:
    """A `TwinServer` on its own thread and event loop; a context manager (tests, benchmarks).

    Example:
        with BackgroundTwin(config) as twin:
            print(twin.url)            # ws://127.0.0.1:<port>
            twin.call(lambda: twin.server.arm.status())
    """

    def __init__(self, config: TwinConfig, start_timeout_s: float = 60.0) -> None:
        self.config = config
        self.start_timeout_s = start_timeout_s
        self.server: TwinServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sim-twin", daemon=True)

    @property
    def port(self) -> int:
        assert self.server is not None, "start the twin first"
        return self.server.port

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.port}"

    def start(self) -> BackgroundTwin:
        """Start serving; returns once clients can connect. Raises SimError if it fails."""
        self._thread.start()
        if not self._ready.wait(self.start_timeout_s):
            raise SimError(f"sim twin did not start within {self.start_timeout_s} s")
        if self._error is not None:
            raise self._error
        return self

    def call(self, function: Callable[[], T], timeout_s: float = 10.0) -> T:
        """Run `function` on the twin's event loop (safe access to server state)."""
        assert self._loop is not None, "start the twin first"

        async def wrapper() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(timeout_s)

    def stop(self) -> None:
        """Stop serving and wait for the thread; re-raises an error that ended serving early."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread.is_alive():
            self._thread.join(30)
        error, self._error = self._error, None
        if error is not None:
            raise error

    def __enter__(self) -> BackgroundTwin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self.server = TwinServer(self.config)
            await self.server.serve(self._stop, on_ready=lambda _port: self._ready.set())

        try:
            asyncio.run(main())
        except BaseException as error:  # handed to the starting thread by start()
            self._error = error
        finally:
            self._ready.set()
