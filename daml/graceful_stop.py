"""Ctrl-C during a long loop: finish the step in hand, let the loop save, then stop.

The first SIGINT only sets `StopRequest.requested` (and says so on stderr); the loop checks it
after each step, where its state is whole (a KeyboardInterrupt raised inside an in-place
optimizer update could leave the weights half-stepped). A second Ctrl-C stops at once. Where
SIGINT is ignored (a background job) or outside the main thread, nothing changes.
Must not import torch, sim or cv2.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class StopRequest:
    """Whether Ctrl-C was pressed while `ctrl_c_stops_after_the_step` was active."""

    requested: bool = False


@contextmanager
def ctrl_c_stops_after_the_step(what: str) -> Iterator[StopRequest]:
    """Within the block, the first Ctrl-C sets the yielded request instead of raising; `what`
    names what the loop will do then (e.g. "saving last.pt")."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        yield request
        return

    def on_ctrl_c(signum, frame) -> None:
        if request.requested:
            raise KeyboardInterrupt
        request.requested = True
        sys.stderr.write(f"\nCtrl-C: {what} after this step (Ctrl-C again to stop at once)\n")

    signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)
