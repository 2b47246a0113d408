"""Reading, normalising and writing demo videos: the one place that decodes video files.

Imports OpenCV inside functions only, so `import daml.video` stays light; never imports sim.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from daml.errors import ConfigError, DataError
from daml.video_writer import MAX_FPS, AtomicVideoWriter, check_fps, write_video

__all__ = [
    "AtomicVideoWriter",
    "Video",
    "VideoInfo",
    "VideoReader",
    "check_fps",
    "frame_normaliser",
    "load_demo_frames",
    "read_video",
    "uniform_indices",
    "write_video",
]

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Used when a container declares no usable frame rate (<= 0, NaN, > MAX_FPS) and for image
# folders, which have none; the Video says so in `fps_from_metadata`.
DEFAULT_FPS = 30.0
MAX_DECODED_BYTES = 4 * 2**30  # read_video refuses to hold more decoded pixels than this


@dataclass(frozen=True)
class VideoInfo:
    """Where a video came from and how it is decoded.

    Attributes:
        path: the file or image folder.
        kind: "file", "images" (a folder) or "camera".
        source_width, source_height: pixel size as stored.
        width, height: pixel size of the decoded frames (after downscaling to `max_side_px`).
        fps: frames per second (DEFAULT_FPS when the source declares none that is usable).
        fps_from_metadata: False when `fps` is DEFAULT_FPS or a caller override.
        declared_frames: frame count the container claims, None when it claims none.
    """

    path: Path
    kind: str
    source_width: int
    source_height: int
    width: int
    height: int
    fps: float
    fps_from_metadata: bool
    declared_frames: int | None

    @property
    def scale(self) -> float:
        """Decoded size over stored size (1.0 unless downscaled)."""
        return self.width / self.source_width


@dataclass(frozen=True)
class Video:
    """A decoded clip: `frames` uint8 (N, H, W, 3) RGB at `fps` frames per second."""

    frames: np.ndarray
    fps: float
    info: VideoInfo

    @property
    def duration_s(self) -> float:
        return len(self.frames) / self.fps


class VideoReader:
    """Streams RGB frames (H, W, 3) uint8 of a video file or an image folder, one at a time.

    Frames larger than `max_side_px` are downscaled as they are decoded, so an 8K clip never
    sits in memory at full resolution. Opening checks that the source exists and decodes;
    running out checks that it had >= 2 frames and was not truncated. Iterate it once.

    Example:
        with VideoReader("demo.mp4") as reader:
            for frame in reader: ...
    """

    def __init__(
        self, path: str | os.PathLike, *, max_side_px: int = 1024, fps: float | None = None
    ) -> None:
        if max_side_px < 1:
            raise ConfigError(f"max_side_px must be >= 1, got {max_side_px}")
        if fps is not None:
            fps = check_fps(fps, "source fps")
        self.path = Path(path)
        self._capture = None
        self._images: list[Path] = []
        if not self.path.exists():
            raise DataError(f"{self.path}: no such file or folder")
        if not os.access(self.path, os.R_OK):  # (OpenCV would only say it cannot decode it)
            raise DataError(f"{self.path}: not readable (permission denied)")
        if self.path.is_dir():
            first = self._open_images()
        else:
            first = self._open_file()
        source_height, source_width = first.shape[:2]
        scale = min(1.0, max_side_px / max(source_width, source_height))
        width = max(1, round(source_width * scale))
        height = max(1, round(source_height * scale))
        metadata_fps, declared = self._metadata()
        fps_from_metadata = fps is None and _usable_fps(metadata_fps)
        self.info = VideoInfo(
            path=self.path,
            kind="images" if self.path.is_dir() else "file",
            source_width=source_width,
            source_height=source_height,
            width=width,
            height=height,
            fps=fps if fps is not None else (metadata_fps if fps_from_metadata else DEFAULT_FPS),
            fps_from_metadata=fps_from_metadata,
            declared_frames=declared,
        )
        self._first = first

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def __iter__(self) -> Iterator[np.ndarray]:
        count = 0
        for frame in self._raw_frames():
            if frame.shape[:2] != (self.info.source_height, self.info.source_width):
                raise DataError(
                    f"{self.path}: frame {count} is {frame.shape[1]}x{frame.shape[0]}, the first "
                    f"is {self.info.source_width}x{self.info.source_height}; all frames must match"
                )
            count += 1
            yield self._to_rgb(frame)
        self.close()
        if count < 2:
            raise DataError(f"{self.path}: has only {count} frame; a demo needs at least 2")
        declared = self.info.declared_frames
        if declared is not None and declared - count > max(1, declared // 100):
            raise DataError(
                f"{self.path}: truncated, decoded {count} of the {declared} frames its container "
                f"declares; re-export or re-record the video"
            )

    def _raw_frames(self) -> Iterator[np.ndarray]:
        """BGR frames at stored size, first one included; decodes into one reused buffer."""
        import cv2

        frame, self._first = self._first, None
        if frame is None:
            raise RuntimeError(f"{self.path}: a VideoReader can be iterated only once")
        yield frame
        if self._capture is not None:
            while True:  # the consumer has converted `frame` to RGB: its memory is free again
                ok, frame = self._capture.read(frame)
                if not ok:
                    return
                yield frame
        else:
            for image_path in self._images[1:]:
                yield _read_image(cv2, image_path)

    def _to_rgb(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        if (frame.shape[1], frame.shape[0]) != (self.info.width, self.info.height):
            frame = cv2.resize(
                frame, (self.info.width, self.info.height), interpolation=cv2.INTER_AREA
            )
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def _open_file(self) -> np.ndarray:
        import cv2

        suffix = self.path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            raise DataError(
                f"{self.path}: is a single image; a demo needs a video or a folder of images"
            )
        # FFmpeg backend only: the default would open "frame.png"-like names as image sequences.
        with native_stderr_silenced():
            self._capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
            ok, frame = self._capture.read() if self._capture.isOpened() else (False, None)
        if not self._capture.isOpened():
            self.close()
            raise DataError(
                f"{self.path}: cannot decode it; not a video, an unsupported codec or container, "
                f"or a truncated file (readable: {'/'.join(VIDEO_SUFFIXES)})"
            )
        if not ok:
            self.close()
            raise DataError(f"{self.path}: has no frames; a demo needs at least 2")
        return frame

    def _open_images(self) -> np.ndarray:
        import cv2

        self._images = sorted(
            (p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
            key=_natural_key,
        )
        if not self._images:
            raise DataError(f"{self.path}: folder holds no {'/'.join(IMAGE_SUFFIXES)} images")
        return _read_image(cv2, self._images[0])

    def _metadata(self) -> tuple[float, int | None]:
        """(fps, declared frame count or None) from the container; images: (nan, count)."""
        if self._capture is None:
            return float("nan"), len(self._images)
        import cv2

        fps = float(self._capture.get(cv2.CAP_PROP_FPS))
        count = float(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        # FFmpeg reports 0, -1 or INT64_MIN when the container has no count.
        declared = int(count) if 0 < count < 1e9 else None
        return fps, declared


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the block: FFmpeg and OpenCV print their own
    lines ("moov atom not found", "[ WARN:0] ... can't be used") while probing a bad file, and
    the DataError raised afterwards already says what is wrong, in one line."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def read_video(
    path: str | os.PathLike, *, max_side_px: int = 1024, fps: float | None = None
) -> Video:
    """Decode a video file (mp4/m4v/mov/avi/mkv/webm) or an image folder (png/jpg).

    Args:
        path: a video file, or a folder of images taken in natural name order
            (frame2.png before frame10.png).
        max_side_px: frames whose longer side exceeds this are downscaled while decoding.
        fps: override the frame rate (image folders have none; default DEFAULT_FPS).

    Returns:
        Video with frames uint8 (N, H, W, 3) RGB, N >= 2.

    Raises:
        DataError: missing, undecodable, < 2 frames, truncated, or too long to hold in memory.
    """
    frames: list[np.ndarray] = []
    with VideoReader(path, max_side_px=max_side_px, fps=fps) as reader:
        frame_bytes = reader.info.width * reader.info.height * 3
        for frame in reader:
            frames.append(frame)
            if len(frames) * frame_bytes > MAX_DECODED_BYTES:
                raise DataError(
                    f"{reader.path}: too long to decode at {reader.info.width}x"
                    f"{reader.info.height} (> {MAX_DECODED_BYTES / 2**30:.0f} GiB); trim it with "
                    f"`daml record --from-file {reader.path} --start S --end E --out clip.mp4`"
                )
    return Video(frames=np.stack(frames), fps=reader.info.fps, info=reader.info)


def load_demo_frames(
    path: str | os.PathLike,
    frames: int,
    image_px: int,
    crop: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Load a human demo as the model sees it.

    Decodes `path`, crops `crop` = (x, y, w, h) in stored-video pixels if given, centre-crops
    to a square, resizes to `image_px` (INTER_AREA) and picks `frames` frames at uniform
    indices over the clip (round(linspace(0, N-1, frames)); frames repeat if N < frames).

    Returns:
        uint8 (frames, image_px, image_px, 3) RGB.
    """
    if frames < 2:
        raise ConfigError(f"frames must be >= 2, got {frames}")
    if image_px < 1:
        raise ConfigError(f"image_px must be >= 1, got {image_px}")
    with VideoReader(path) as reader:
        normalise = frame_normaliser(reader.info, crop=crop, size_px=image_px)
        small = [normalise(frame) for frame in reader]
    picked = uniform_indices(len(small), frames)
    return np.stack([small[i] for i in picked])


def uniform_indices(available: int, wanted: int) -> np.ndarray:
    """`wanted` indices spread evenly over range(available), first and last included."""
    return np.floor(np.linspace(0, available - 1, wanted) + 0.5).astype(np.int64)


def frame_normaliser(
    info: VideoInfo, *, crop: tuple[int, int, int, int] | None = None, size_px: int | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping a decoded frame (H, W, 3) to its cropped and resized version.

    `crop` = (x, y, w, h) in stored pixels (what a video player shows), checked against the
    video size. `size_px` centre-crops to a square and resizes to (size_px, size_px, 3).
    """
    import cv2

    box = _decoded_crop_box(info, crop) if crop is not None else (0, 0, info.width, info.height)
    x, y, w, h = box
    if size_px is not None:
        side = min(w, h)
        x, y, w, h = x + (w - side) // 2, y + (h - side) // 2, side, side

    def normalise(frame: np.ndarray) -> np.ndarray:
        region = frame[y : y + h, x : x + w]
        if size_px is None or region.shape[0] == size_px:
            return np.ascontiguousarray(region)
        return cv2.resize(region, (size_px, size_px), interpolation=cv2.INTER_AREA)

    return normalise


def _decoded_crop_box(
    info: VideoInfo, crop: tuple[int, int, int, int]
) -> tuple[int, int, int, int]:
    x, y, w, h = (int(v) for v in crop)
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise ConfigError(f"crop {x},{y},{w},{h} needs x, y >= 0 and w, h > 0")
    if x + w > info.source_width or y + h > info.source_height:
        raise ConfigError(
            f"crop {x},{y},{w},{h} reaches outside the {info.source_width}x{info.source_height} "
            f"video {info.path}; choose x+w <= {info.source_width} and y+h <= {info.source_height}"
        )
    s = info.scale
    left, top = round(x * s), round(y * s)
    right = min(info.width, max(left + 1, round((x + w) * s)))
    bottom = min(info.height, max(top + 1, round((y + h) * s)))
    return left, top, right - left, bottom - top


def _usable_fps(fps: float) -> bool:
    return math.isfinite(fps) and 0 < fps <= MAX_FPS


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _read_image(cv2, path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: cannot decode this image; re-save it as png or jpg")
    return image
