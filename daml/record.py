"""Recording a demo from a camera at a fixed frame rate, with a countdown and optional preview.

The frame source, clock and preview are injected, so the loop runs without a webcam or display.
Imports OpenCV inside functions only; never imports sim.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from daml.errors import ConfigError, ConnectionFailed, DamlError, DataError
from daml.video_writer import check_fps

STOP_KEYS = (ord(" "), ord("q"), 27)  # space, q, Esc
START_KEY = ord(" ")
CANCEL_KEYS = (ord("q"), 27)
NO_KEY = -1


class FrameSource(Protocol):
    """What `capture` reads from: cv2.VideoCapture or anything with the same two methods."""

    def read(self) -> tuple[bool, np.ndarray | None]:
        """(ok, BGR frame (H, W, 3) uint8); blocks until the next frame, like a camera."""

    def release(self) -> None: ...


class Preview(Protocol):
    """A live view: shows a BGR frame with a caption and returns the key pressed or NO_KEY."""

    def show(self, frame_bgr: np.ndarray, caption: str) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class CaptureSettings:
    """How to record.

    Attributes:
        fps: output frame rate; frames are paced by the clock, duplicated or dropped to keep it.
        seconds: recording length; a stop key or Ctrl-C ends it earlier.
        countdown_s: seconds of countdown before recording starts (space skips it).
    """

    fps: float = 15.0
    seconds: float = 5.0
    countdown_s: float = 3.0

    def __post_init__(self) -> None:
        check_fps(self.fps, "--fps")
        if not math.isfinite(self.seconds) or self.seconds * self.fps < 2:
            raise ConfigError(
                f"--seconds {self.seconds} at {self.fps:g} fps gives fewer than 2 frames; "
                f"record for at least {2 / self.fps:.2f} s"
            )
        if not math.isfinite(self.countdown_s) or self.countdown_s < 0:
            raise ConfigError(f"--countdown must be >= 0 seconds, got {self.countdown_s}")

    @property
    def target_frames(self) -> int:
        return round(self.seconds * self.fps)


@dataclass(frozen=True)
class CaptureResult:
    """What was recorded: `frames` frames at `fps`; `stopped_by` is duration, key or interrupt."""

    frames: int
    fps: float
    stopped_by: str

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


def open_camera(index: int):
    """Open camera `index` with OpenCV; ConnectionFailed if it is absent or gives no frame."""
    import cv2

    from daml.video import native_stderr_silenced

    with native_stderr_silenced():  # OpenCV's own "[ WARN:0] can't open camera" lines
        camera = cv2.VideoCapture(index)
    if not camera.isOpened():
        camera.release()
        raise ConnectionFailed(
            f"camera {index} cannot be opened; check it is plugged in and not used by another "
            f"program, or try another --camera index"
        )
    ok, _ = camera.read()
    if not ok:
        camera.release()
        raise ConnectionFailed(f"camera {index} opened but delivers no frames; try another index")
    return camera


def display_available() -> bool:
    """True where a preview window can be shown: a display exists and OpenCV has a GUI backend.

    The pip `opencv-python-headless` build has none (cv2.imshow raises), so this is False there.
    """
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False
    import cv2

    try:
        cv2.namedWindow("daml-probe", cv2.WINDOW_AUTOSIZE)
        cv2.destroyWindow("daml-probe")
    except cv2.error:
        return False
    return True


class WindowPreview:
    """An OpenCV window showing the camera with the countdown or recording time drawn on it."""

    def __init__(self, title: str = "daml record") -> None:
        self.title = title

    def show(self, frame_bgr: np.ndarray, caption: str) -> int:
        import cv2

        shown = frame_bgr.copy()
        scale = max(0.6, shown.shape[0] / 240)
        cv2.putText(
            shown,
            caption,
            (10, int(40 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (0, 0, 255),
            max(1, int(2 * scale)),
            cv2.LINE_AA,
        )
        cv2.imshow(self.title, shown)
        key = cv2.waitKey(1)
        return NO_KEY if key < 0 else key & 0xFF

    def close(self) -> None:
        import cv2

        cv2.destroyWindow(self.title)


class NoPreview:
    """Used where there is no display: shows nothing, no key is ever pressed."""

    def show(self, frame_bgr: np.ndarray, caption: str) -> int:
        return NO_KEY

    def close(self) -> None:
        pass


def capture(
    source: FrameSource,
    sink: Callable[[np.ndarray], None],
    settings: CaptureSettings,
    *,
    preview: Preview | None = None,
    clock: Callable[[], float] = time.monotonic,
    announce: Callable[[str], None] = print,
) -> CaptureResult:
    """Count down, then feed `sink` RGB frames (H, W, 3) uint8 at exactly `settings.fps`.

    Frames are paced by `clock` (see FramePacer): a slow camera's frames are repeated and a
    fast camera's frames between two output times are dropped. Recording stops after
    `settings.seconds`, on a stop key (space, q, Esc) in the preview, or on Ctrl-C (keeping
    what was recorded if >= 2 frames).
    """
    preview = preview if preview is not None else NoPreview()
    _count_down(source, settings.countdown_s, preview, clock, announce)
    stop_hint = "space or q" if not isinstance(preview, NoPreview) else "Ctrl-C"
    announce(f"recording {settings.seconds:g} s at {settings.fps:g} fps ({stop_hint} stops early)")
    target = settings.target_frames
    pacer, started, stopped_by = FramePacer(settings.fps, target), None, "duration"
    try:
        while not pacer.done:
            frame = _read(source, pacer.emitted)
            now = clock()
            started = now if started is None else started
            for rgb in pacer.push(np.ascontiguousarray(frame[:, :, ::-1]), now - started):
                sink(rgb)
            if preview.show(frame, f"REC {pacer.emitted / settings.fps:4.1f} s") in STOP_KEYS:
                stopped_by = "key"
                break
    except KeyboardInterrupt:
        if pacer.emitted < 2:
            raise
        stopped_by = "interrupt"
    if pacer.emitted < 2:
        raise DamlError(f"recording stopped after {pacer.emitted} frame; a demo needs at least 2")
    return CaptureResult(frames=pacer.emitted, fps=settings.fps, stopped_by=stopped_by)


class FramePacer:
    """Turns frames arriving at irregular times into a fixed-rate sequence of `target` frames.

    Output frame k, due k / fps seconds after the first frame, is the newest frame that had
    arrived by then: a slow source's frames repeat, a fast source's frames between two due
    times are dropped.
    """

    def __init__(self, fps: float, target: int) -> None:
        self.fps, self.target, self.emitted = fps, target, 0
        self._previous: np.ndarray | None = None

    @property
    def done(self) -> bool:
        return self.emitted >= self.target

    def push(self, frame: np.ndarray, elapsed_s: float) -> list[np.ndarray]:
        """Frames to emit now that `frame` arrived `elapsed_s` after the first frame."""
        out = []
        # output times that passed before `frame` arrived show the frame that was newest then
        while self._previous is not None and self._due(len(out)) < elapsed_s - 1e-6:
            out.append(self._previous)
        if self._due(len(out)) <= elapsed_s + 1e-6:
            out.append(frame)
        self._previous = frame
        self.emitted += len(out)
        return out

    def _due(self, pending: int) -> float:
        """Due time of the next output frame after `pending` more; inf once `target` is met."""
        k = self.emitted + pending
        return k / self.fps if k < self.target else math.inf


def _count_down(
    source: FrameSource,
    countdown_s: float,
    preview: Preview,
    clock: Callable[[], float],
    announce: Callable[[str], None],
) -> None:
    """Show the live view with the seconds left; space starts now, q / Esc cancels."""
    started, shown = clock(), None
    while countdown_s > 0:
        frame = _read(source, 0)
        left = countdown_s - (clock() - started)
        if left <= 0:
            return
        seconds = math.ceil(left)
        if seconds != shown:
            announce(f"recording starts in {seconds} ...")
            shown = seconds
        key = preview.show(frame, str(seconds))
        if key == START_KEY:
            return
        if key in CANCEL_KEYS:
            raise DamlError("recording cancelled before it started; nothing saved")


def _read(source: FrameSource, recorded: int) -> np.ndarray:
    ok, frame = source.read()
    if not ok or frame is None:
        raise ConnectionFailed(
            f"the camera stopped delivering frames after {recorded} recorded frames; "
            f"check its cable and that no other program uses it"
        )
    return frame


def sidecar_path(video_path: str | os.PathLike) -> Path:
    """Where the JSON description of a recorded video lives: `demo.mp4` -> `demo.json`."""
    return Path(video_path).with_suffix(".json")


def write_sidecar(video_path: str | os.PathLike, fields: dict[str, Any]) -> Path:
    """Atomically write `fields` plus the video's name and the UTC time as the JSON sidecar."""
    from daml import __version__
    from daml.output_path import write_bytes_atomic

    record = {
        "video": Path(video_path).name,
        **fields,
        "recorded_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "daml_version": __version__,
    }
    path = sidecar_path(video_path)
    try:
        write_bytes_atomic(path, (json.dumps(record, indent=2) + "\n").encode())
    except OSError as error:
        raise DataError(f"cannot write {path}: {error.strerror}") from error
    return path
