"""Writing videos atomically (temp file + os.replace) with a codec this OpenCV build supports.

Imports OpenCV inside functions only; never imports sim. Re-exported by daml.video.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

from daml.errors import ConfigError, DataError
from daml.output_path import replace_with_temp

# FFmpeg inside OpenCV logs its decoder errors straight to stderr (e.g. "[mjpeg @ 0x...] overread
# 8" on a truncated file), above the one-line error daml.video raises for the same problem. Quiet
# (AV_LOG_QUIET) unless the user sets the variable; read when OpenCV first opens a video.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

MAX_FPS = 1000.0
# Writer fourccs by container, tried in order (this OpenCV build: mp4v works, avc1 needs a
# hardware H.264 encoder that is usually absent; VP8/VP9 and FFV1 ship with its FFmpeg).
_WRITER_FOURCCS = {
    ".mp4": ("mp4v", "avc1"),
    ".m4v": ("mp4v", "avc1"),
    ".mov": ("mp4v", "avc1"),
    ".avi": ("MJPG", "XVID"),
    ".mkv": ("FFV1", "mp4v"),
    ".webm": ("VP80", "VP90"),
}
# Codecs with 4:2:0 chroma need even sizes; frames are trimmed by one row/column if odd.
_EVEN_SIZE_FOURCCS = ("mp4v", "avc1", "XVID", "VP80", "VP90")


def check_fps(fps: float, what: str = "fps") -> float:
    """Return `fps` as a float if 0 < fps <= MAX_FPS, else raise ConfigError."""
    fps = float(fps)
    if not math.isfinite(fps) or fps <= 0 or fps > MAX_FPS:
        raise ConfigError(f"{what} must be in (0, {MAX_FPS:g}], got {fps}")
    return fps


class AtomicVideoWriter:
    """Writes RGB frames (H, W, 3) uint8 to a video, all or nothing.

    Frames go to a temp file in the destination folder; on a clean exit the file is checked to
    decode with the right frame count and moved into place with os.replace; on any error (or
    Ctrl-C) the temp file is deleted and an existing `path` is left as it was. The folder is
    created and checked for writing at construction, before any frame is produced.
    Codecs with 4:2:0 chroma (mp4v) drop the last row/column of odd-sized frames.

    Example:
        with AtomicVideoWriter("demo.mp4", fps=15) as writer:
            writer.write(frame_rgb)
    """

    def __init__(self, path: str | os.PathLike, fps: float) -> None:
        self.path = Path(path)
        self.fps = check_fps(fps)
        self.frames_written = 0
        self.size: tuple[int, int] | None = None  # (width, height) written
        self._writer = None
        self._first_shape: tuple[int, ...] | None = None
        if self.path.is_dir():
            raise DataError(
                f"{path}: is a folder; give a file name such as {self.path / 'demo.mp4'}"
            )
        self._fourccs = _WRITER_FOURCCS.get(self.path.suffix.lower())
        if self._fourccs is None:
            raise ConfigError(
                f"{self.path}: cannot write {self.path.suffix or 'suffix-less'} videos; "
                f"name it with one of {', '.join(_WRITER_FOURCCS)}"
            )
        self._temp = _make_temp_file(self.path)

    def __enter__(self) -> AtomicVideoWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            self._abort()
            return
        self._commit()

    def write(self, frame: np.ndarray) -> None:
        """Append one frame, uint8 (H, W, 3) RGB; every frame must have the first one's size."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise DataError(
                f"{self.path}: frames must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}"
            )
        if self._writer is None:
            self._first_shape = frame.shape
            self._open(width=frame.shape[1], height=frame.shape[0])
        if frame.shape != self._first_shape:
            raise DataError(
                f"{self.path}: frame {self.frames_written} has shape {frame.shape}, earlier "
                f"frames {self._first_shape}; all frames must have one size"
            )
        width, height = self.size
        self._writer.write(np.ascontiguousarray(frame[:height, :width, ::-1]))  # RGB -> BGR
        self.frames_written += 1

    def _open(self, width: int, height: int) -> None:
        import cv2

        for fourcc in self._fourccs:
            size = (width, height)
            if fourcc in _EVEN_SIZE_FOURCCS:
                size = (width - width % 2, height - height % 2)
            if min(size) < 1:
                continue
            try:
                writer = cv2.VideoWriter(
                    str(self._temp), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*fourcc), self.fps, size
                )
            except cv2.error:
                continue
            if writer.isOpened():
                self._writer, self.size = writer, size
                return
            writer.release()
        self._abort()
        raise DataError(
            f"{self.path}: OpenCV cannot open a {self.path.suffix} writer for {width}x{height} at "
            f"{self.fps:g} fps (tried {', '.join(self._fourccs)}); write .mp4 or .avi instead"
        )

    def _commit(self) -> None:
        import cv2

        if self._writer is None:
            self._abort()
            raise DataError(f"{self.path}: no frames were written; nothing saved")
        self._writer.release()
        self._writer = None
        check = cv2.VideoCapture(str(self._temp), cv2.CAP_FFMPEG)
        opened = check.isOpened()
        declared = check.get(cv2.CAP_PROP_FRAME_COUNT) if opened else 0.0
        check.release()
        if not opened or (0 < declared < 1e9 and int(declared) != self.frames_written):
            self._abort()
            raise DataError(
                f"{self.path}: the written video does not read back ({declared:g} of "
                f"{self.frames_written} frames); nothing saved"
            )
        try:
            replace_with_temp(self._temp, self.path)  # (DataError naming the path if it fails)
        except DataError:
            self._abort()
            raise

    def _abort(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._temp.unlink(missing_ok=True)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float) -> Path:
    """Write uint8 (N, H, W, 3) RGB frames to `path` (.mp4 by mp4v, .avi, .mov, .mkv, .webm).

    Atomic: the file appears complete or not at all. Returns `path` as a Path.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or not len(frames):
        raise DataError(
            f"{path}: frames must be uint8 (N>=1, H, W, 3), got {frames.dtype} {frames.shape}"
        )
    with AtomicVideoWriter(path, fps) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.path


def _make_temp_file(path: Path) -> Path:
    """An empty temp file next to `path`, keeping its suffix (FFmpeg picks the container by it)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"cannot create folder {path.parent}: {error.strerror}") from error
    try:
        fd, temp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}"
        )
    except OSError as error:
        raise DataError(f"cannot write to folder {path.parent}: {error.strerror}") from error
    os.close(fd)
    return Path(temp)
