"""daml.video: decoding files and image folders, bad inputs, normalising, atomic writing."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from daml.errors import ConfigError, DataError
from daml.video import (
    DEFAULT_FPS,
    AtomicVideoWriter,
    VideoReader,
    frame_normaliser,
    load_demo_frames,
    read_video,
    uniform_indices,
    write_video,
)


@pytest.fixture
def write_raw(index_frames) -> Callable[..., Path]:
    """write_raw(path, count, fps=30.0, fourcc="mp4v", size=(64, 48)) -> path.

    Encodes `count` index frames with cv2.VideoWriter directly (independent of daml).
    """

    def write(
        path: Path,
        count: int,
        fps: float = 30.0,
        fourcc: str = "mp4v",
        size: tuple[int, int] = (64, 48),
    ) -> Path:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        assert writer.isOpened()
        for i in range(count):
            frame = index_frames.frame(i, size[1], size[0])
            writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
        writer.release()
        return path

    return write


def test_reads_mp4_in_order_as_rgb(tmp_path, index_frames, write_raw):
    video = read_video(write_raw(tmp_path / "clip.mp4", 20, fps=12.5))
    assert video.frames.shape == (20, 48, 64, 3) and video.frames.dtype == np.uint8
    assert video.fps == 12.5 and video.info.fps_from_metadata
    assert [index_frames.index(f) for f in video.frames] == list(range(20))
    assert video.duration_s == pytest.approx(20 / 12.5)


@pytest.mark.parametrize(
    ("name", "fourcc"),
    [("a.avi", "MJPG"), ("a.mov", "mp4v"), ("a.mkv", "FFV1"), ("a.webm", "VP80")],
)
def test_reads_other_containers(tmp_path, name, fourcc, index_frames, write_raw):
    video = read_video(write_raw(tmp_path / name, 10, fourcc=fourcc))
    assert [index_frames.index(f) for f in video.frames] == list(range(10))


def test_image_folder_in_natural_order_with_default_fps(tmp_path, index_frames):
    for i in range(12):  # frame_2 must come before frame_10
        cv2.imwrite(str(tmp_path / f"frame_{i}.png"), index_frames.frame(i)[:, :, ::-1])
    (tmp_path / "notes.txt").write_text("ignored")
    video = read_video(tmp_path)
    assert [index_frames.index(f) for f in video.frames] == list(range(12))
    assert video.fps == DEFAULT_FPS and not video.info.fps_from_metadata
    assert video.info.kind == "images"
    assert read_video(tmp_path, fps=10).fps == 10


def test_image_folder_errors(tmp_path, index_frames):
    with pytest.raises(DataError, match="holds no"):
        read_video(tmp_path)
    cv2.imwrite(str(tmp_path / "0.png"), index_frames.frame(0))
    cv2.imwrite(str(tmp_path / "1.png"), index_frames.frame(1, 20, 20))
    with pytest.raises(DataError, match="all frames must match"):
        read_video(tmp_path)
    (tmp_path / "1.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="1.png: cannot decode this image"):
        read_video(tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.mp4: no such file"):
        read_video(tmp_path / "nope.mp4")


def test_not_a_video(tmp_path, index_frames):
    (tmp_path / "text.mp4").write_text("hello " * 100)
    with pytest.raises(DataError, match="text.mp4: cannot decode it"):
        read_video(tmp_path / "text.mp4")
    cv2.imwrite(str(tmp_path / "still.png"), index_frames.frame(0))
    with pytest.raises(DataError, match="single image"):
        read_video(tmp_path / "still.png")


def test_zero_and_one_frame(tmp_path, write_raw):
    with pytest.raises(DataError, match="has no frames"):
        read_video(write_raw(tmp_path / "empty.avi", 0, fourcc="MJPG"))
    with pytest.raises(DataError, match="only 1 frame; a demo needs at least 2"):
        read_video(write_raw(tmp_path / "one.mp4", 1))


def test_truncated_files(tmp_path, write_raw):
    # AVI keeps its frame count in the header: a cut file decodes fewer frames than it declares.
    data = write_raw(tmp_path / "full.avi", 60, fourcc="MJPG").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(DataError, match=r"truncated, decoded \d+ of the 60 frames"):
        read_video(tmp_path / "cut.avi")
    # MP4 keeps its index at the end: a cut file does not open at all.
    data = write_raw(tmp_path / "full.mp4", 60).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 9 // 10])
    with pytest.raises(DataError, match="cut.mp4: cannot decode it"):
        read_video(tmp_path / "cut.mp4")


def test_bad_file_prints_nothing_but_the_error(tmp_path, write_raw, capfd):
    # FFmpeg's "moov atom not found" and OpenCV's "[ WARN:0]" lines go to the process's fd 2,
    # past sys.stderr; the one-line DataError is the whole message the user gets.
    data = write_raw(tmp_path / "full.mp4", 30).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.mp4").write_text("hello " * 100)
    capfd.readouterr()
    for name in ("cut.mp4", "text.mp4"):
        with pytest.raises(DataError, match=f"{name}: cannot decode it"):
            read_video(tmp_path / name)
    # a cut AVI decodes up to the cut, where FFmpeg's mjpeg decoder says "overread 8" itself
    data = write_raw(tmp_path / "full.avi", 40, fourcc="MJPG").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) // 2 + 37])
    with pytest.raises(DataError, match="cut.avi: truncated"):
        read_video(tmp_path / "cut.avi")
    assert capfd.readouterr().err == ""
    os.write(2, b"fd 2 restored\n")
    assert capfd.readouterr().err == "fd 2 restored\n"


def test_absurd_fps_metadata_falls_back_to_default(tmp_path, write_raw):
    video = read_video(write_raw(tmp_path / "fast.mp4", 5, fps=2000))
    assert video.fps == DEFAULT_FPS and not video.info.fps_from_metadata


@pytest.mark.parametrize("fps", [0, -5, float("nan"), float("inf"), 1001])
def test_absurd_fps_is_refused(tmp_path, fps, index_frames, write_raw):
    frames = np.stack([index_frames.frame(i) for i in range(3)])
    with pytest.raises(ConfigError, match="fps must be in"):
        write_video(tmp_path / "x.mp4", frames, fps)
    with pytest.raises(ConfigError, match="source fps must be in"):
        read_video(write_raw(tmp_path / "ok.mp4", 3), fps=fps)
    assert sorted(os.listdir(tmp_path)) == ["ok.mp4"]


def test_huge_resolution_is_downscaled_while_decoding(tmp_path, index_frames, write_raw):
    width, height, count = 3840, 2160, 6
    path = write_raw(tmp_path / "uhd.avi", count, fourcc="MJPG", size=(width, height))
    tracemalloc.start()
    video = read_video(path, max_side_px=256)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert video.frames.shape == (count, 144, 256, 3)
    assert (video.info.source_width, video.info.source_height) == (width, height)
    assert [index_frames.index(f) for f in video.frames] == list(range(count))
    # holding every full-size frame would need count * 24.9 MB; one or two at a time is the bound
    assert peak < 2 * width * height * 3


def test_load_demo_frames_crops_square_resizes_and_resamples(tmp_path, index_frames, write_raw):
    path = write_raw(tmp_path / "clip.mkv", 30, fourcc="FFV1", size=(80, 60))
    frames = load_demo_frames(path, frames=10, image_px=16)
    assert frames.shape == (10, 16, 16, 3) and frames.dtype == np.uint8
    assert [index_frames.index(f) for f in frames] == [0, 3, 6, 10, 13, 16, 19, 23, 26, 29]
    assert list(uniform_indices(30, 10)) == [0, 3, 6, 10, 13, 16, 19, 23, 26, 29]
    longer = load_demo_frames(path, frames=45, image_px=8)  # more than the clip: repeats
    assert [index_frames.index(f) for f in longer] == list(uniform_indices(30, 45))
    with pytest.raises(ConfigError, match="frames must be >= 2"):
        load_demo_frames(path, frames=1, image_px=16)


def test_crop_region_in_source_pixels(tmp_path):
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[20:60, 100:140] = (255, 255, 255)  # the workspace: a white 40x40 square
    frames = np.stack([frame, frame, frame])
    path = write_video(tmp_path / "scene.mkv", frames, fps=10)
    demo = load_demo_frames(path, frames=3, image_px=8, crop=(100, 20, 40, 40))
    assert demo.min() == 255
    # the same region when decoding downscales by 2: the crop is given in stored pixels
    with VideoReader(path, max_side_px=80) as reader:
        normalise = frame_normaliser(reader.info, crop=(100, 20, 40, 40))
        cropped = [normalise(f) for f in reader]
    assert cropped[0].shape == (20, 20, 3) and cropped[0].min() == 255
    for bad in [(150, 20, 40, 40), (0, 0, 0, 10), (-1, 0, 10, 10), (0, 100, 10, 30)]:
        with pytest.raises(ConfigError, match="crop"):
            load_demo_frames(path, frames=3, image_px=8, crop=bad)


def test_write_video_round_trips_and_leaves_no_temp_files(tmp_path, index_frames):
    frames = np.random.default_rng(0).integers(0, 256, (5, 24, 32, 3), dtype=np.uint8)
    path = write_video(tmp_path / "sub" / "exact.mkv", frames, fps=7)
    video = read_video(path)
    np.testing.assert_array_equal(video.frames, frames)  # FFV1 is lossless
    assert video.fps == 7
    assert os.listdir(tmp_path / "sub") == ["exact.mkv"]
    odd = write_video(
        tmp_path / "odd.mp4", np.stack([index_frames.frame(i, 47, 63) for i in range(4)]), 15
    )
    assert read_video(odd).frames.shape == (4, 46, 62, 3)  # mp4v needs even sizes


def test_write_video_bad_outputs(tmp_path, index_frames):
    frames = np.stack([index_frames.frame(i) for i in range(3)])
    with pytest.raises(ConfigError, match="cannot write .xyz videos"):
        write_video(tmp_path / "a.xyz", frames, 15)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="cannot create folder"):
        write_video(tmp_path / "file" / "a.mp4", frames, 15)
    with pytest.raises(DataError, match="is a folder"):
        write_video(tmp_path, frames, 15)
    with pytest.raises(DataError, match="is a folder; give a file name such as .*demo.mp4"):
        write_video(str(tmp_path), frames, 15)  # as `daml record --out` passes it
    with pytest.raises(DataError, match="uint8"):
        write_video(tmp_path / "a.mp4", frames.astype(np.float32), 15)
    assert os.listdir(tmp_path) == ["file"]


def test_failed_write_keeps_the_existing_file(tmp_path, index_frames):
    path = write_video(
        tmp_path / "demo.mp4", np.stack([index_frames.frame(i) for i in range(4)]), 15
    )
    before = path.read_bytes()
    with pytest.raises(DataError, match="all frames must have one size"):
        with AtomicVideoWriter(path, 15) as writer:
            writer.write(index_frames.frame(0))
            writer.write(index_frames.frame(1, 20, 20))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["demo.mp4"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_folder(tmp_path, index_frames):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(DataError, match="cannot write to folder"):
            write_video(
                tmp_path / "a.mp4", np.stack([index_frames.frame(0), index_frames.frame(1)]), 15
            )
    finally:
        tmp_path.chmod(0o700)


def test_import_daml_video_does_not_import_cv2():
    code = "import sys, daml, daml.video, daml.trim, daml.record; assert 'cv2' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
