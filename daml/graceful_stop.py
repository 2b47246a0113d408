"""Ctrl-C or SIGTERM during a long loop: finish the step in hand, let the loop save, then stop.

The first SIGINT (Ctrl-C) or SIGTERM (`kill`, `timeout`, a batch scheduler's notice) only sets
`StopRequest.requested` (and says so on stderr); the loop checks it after each step, where its
state is whole (an exception raised inside an in-place optimizer update could leave the weights
half-stepped). A second signal stops at once. A signal that is ignored (SIGINT in a background
job) stays ignored; outside the main thread nothing changes.
Must not import torch, sim or cv2.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass
class StopRequest:
    """Whether a stop signal came while `stop_after_the_step` was active (and which one)."""

    requested: bool = False
    signal_name: str = ""


@contextmanager
def stop_after_the_step(what: str) -> Iterator[StopRequest]:
    """Within the block, the first SIGINT / SIGTERM sets the yielded request instead of stopping
    the process; `what` names what the loop will do then (e.g. "saving last.pt")."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def on_signal(signum, frame) -> None:
        if request.requested:
            raise KeyboardInterrupt
        request.requested, request.signal_name = True, signal.Signals(signum).name
        sys.stderr.write(
            f"\n{request.signal_name}: {what} after this step (send it again to stop at once)\n"
        )

    previous = {number: signal.getsignal(number) for number in SIGNALS}
    for number, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(number, on_signal)
    try:
        yield request
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
