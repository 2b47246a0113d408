"""SIGINT (Ctrl-C) and SIGTERM (`kill`, `timeout`, a batch scheduler's notice) in a long loop.

`on_stop_signals(callback)` routes both signals to a callback for the length of a block; a
signal that is ignored (SIGINT in a background job) stays ignored, a handler set from C is left
alone, and outside the main thread nothing changes. `stop_after_the_step` builds on it: the
first signal only sets `StopRequest.signum`, the loop checks it after each step, where its state
is whole (an exception raised inside an in-place optimizer update could leave the weights
half-stepped), and a second signal raises `Stopped` at once.
Must not import torch, sim or cv2.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """A long command stopped by `signum`; the CLI exits with 128 + signum (130, 143)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def on_stop_signals(callback: Callable[[int], None]) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM call `callback(signum)` instead of their handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in SIGNALS}
    taken = [n for n, handler in previous.items() if handler not in (signal.SIG_IGN, None)]
    for number in taken:
        signal.signal(number, lambda signum, _frame: callback(signum))
    try:
        yield
    finally:
        for number in taken:
            signal.signal(number, previous[number])


@dataclass
class StopRequest:
    """The signal that asked the loop to stop after its step (0: none yet)."""

    signum: int = 0


@contextmanager
def stop_after_the_step(what: str) -> Iterator[StopRequest]:
    """Within the block, the first SIGINT / SIGTERM sets the yielded request instead of stopping
    the process; `what` names what the loop will do then (e.g. "saving last.pt")."""
    request = StopRequest()

    def on_signal(signum: int) -> None:
        if request.signum:
            raise Stopped(signum)
        request.signum = signum
        name = signal.Signals(signum).name  # os.write: print() may be mid-write on this stream
        os.write(2, f"\n{name}: {what} after this step (send it again to stop at once)\n".encode())

    with on_stop_signals(on_signal):
        yield request
