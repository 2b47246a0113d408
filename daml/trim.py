"""Cutting a demo out of an existing video: trim in time, fix the frame rate, crop and resize.

Streams frame by frame (a long 4K clip is never held in memory). Never imports sim or cv2
directly (decoding and encoding go through daml.video).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from daml.errors import ConfigError
from daml.video import VideoInfo, VideoReader, check_fps, frame_normaliser
from daml.video_writer import AtomicVideoWriter


@dataclass(frozen=True)
class TrimSpec:
    """Which part of the source becomes the demo, and how it is normalised.

    Attributes:
        start_s: first output frame time, seconds from the start of the source.
        end_s: output frames have times < end_s; None means the end of the source.
        fps: output frame rate; None keeps the source's.
        size_px: centre-crop to a square and resize to (size_px, size_px); None keeps the size.
        crop: (x, y, w, h) region in source pixels, applied before `size_px`.
        source_fps: override the source's frame rate (image folders declare none).
    """

    start_s: float = 0.0
    end_s: float | None = None
    fps: float | None = None
    size_px: int | None = None
    crop: tuple[int, int, int, int] | None = None
    source_fps: float | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.start_s) or self.start_s < 0:
            raise ConfigError(f"--start must be >= 0 seconds, got {self.start_s}")
        if self.end_s is not None and not self.end_s > self.start_s:
            raise ConfigError(f"--end ({self.end_s}) must be after --start ({self.start_s})")
        if self.fps is not None:
            check_fps(self.fps, "--fps")
        if self.size_px is not None and not 8 <= self.size_px <= 4096:
            raise ConfigError(f"--size must be in [8, 4096] pixels, got {self.size_px}")


@dataclass(frozen=True)
class TrimResult:
    """The written clip: `frames` frames of `width` x `height` at `fps`, and its source."""

    path: Path
    frames: int
    fps: float
    width: int
    height: int
    source: VideoInfo

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps


def trim_video(
    source: str | os.PathLike, out: str | os.PathLike, spec: TrimSpec, *, progress: bool = True
) -> TrimResult:
    """Write the part of `source` that `spec` selects to `out` (atomically).

    Output frame k has time t_k = start_s + k / fps and shows source frame
    floor(t_k * source_fps), the frame on screen at t_k; so lowering the rate drops frames and
    raising it repeats them. There are ceil((end_s - start_s) * fps) output frames.

    Raises:
        ConfigError: start beyond the clip, end beyond the clip, crop outside the frame.
        DataError: the source is unreadable, or the output cannot be written.
    """
    from tqdm import tqdm

    with VideoReader(source, fps=spec.source_fps) as reader:
        info = reader.info
        out_fps = spec.fps if spec.fps is not None else info.fps
        end_s = _checked_end(info, spec)
        wanted = None if end_s is None else math.ceil((end_s - spec.start_s) * out_fps - 1e-6)
        normalise = frame_normaliser(info, crop=spec.crop, size_px=spec.size_px)

        def source_index(k: int) -> int:
            return math.floor((spec.start_s + k / out_fps) * info.fps + 1e-6)

        total = info.declared_frames  # source frames to decode, for the progress bar
        if wanted is not None:
            total = min(total or math.inf, source_index(wanted - 1) + 1)
        written, next_index, decoded = 0, source_index(0), 0
        bar = tqdm(total=total, unit="frame", desc="trim", disable=None if progress else True)
        with bar, AtomicVideoWriter(out, out_fps) as writer:
            for index, frame in enumerate(reader):
                if wanted is not None and written >= wanted:
                    break
                decoded = index + 1
                bar.update()
                if index < next_index:
                    continue
                small = normalise(frame)
                while next_index == index and (wanted is None or written < wanted):
                    writer.write(small)
                    written += 1
                    next_index = source_index(written)
            _check_cut_length(info, spec, written, wanted, decoded)
    return TrimResult(Path(out), written, out_fps, writer.size[0], writer.size[1], info)


def _check_cut_length(
    info: VideoInfo, spec: TrimSpec, written: int, wanted: int | None, decoded: int
) -> None:
    """Errors when the source ran out before the cut was complete (only known after decoding)."""
    clip = f"{info.path} ({decoded / info.fps:.2f} s)"
    if written == 0:
        raise ConfigError(f"--start {spec.start_s:g} is beyond the end of {clip}")
    if spec.end_s is not None and wanted is not None and written < wanted:
        raise ConfigError(f"--end {spec.end_s:g} is beyond the end of {clip}")
    if written < 2:
        raise ConfigError(
            f"the cut from {spec.start_s:g} s of {clip} has {written} frame; "
            f"a demo needs at least 2"
        )


def _checked_end(info: VideoInfo, spec: TrimSpec) -> float | None:
    """The cut's end in seconds (None: unknown until decoded); errors if outside the clip."""
    if info.declared_frames is None:
        return spec.end_s
    duration_s = info.declared_frames / info.fps
    if spec.start_s >= duration_s:
        raise ConfigError(
            f"--start {spec.start_s:g} is beyond the end of {info.path} ({duration_s:.2f} s)"
        )
    if spec.end_s is None:
        return duration_s
    if spec.end_s > duration_s + 0.5 / info.fps:  # half a frame of slack for rounding
        raise ConfigError(
            f"--end {spec.end_s:g} is beyond the end of {info.path} ({duration_s:.2f} s); "
            f"leave --end out to cut to the end"
        )
    return min(spec.end_s, duration_s)
