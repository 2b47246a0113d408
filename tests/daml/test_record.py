"""`daml record`: camera capture pacing (fake camera, real file), trimming, sim avatar videos."""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from daml.cli import main
from daml.errors import ConfigError, ConnectionFailed, DamlError
from daml.record import NO_KEY, CaptureSettings, capture
from daml.video import load_demo_frames, read_video, write_video


class FakeCamera:
    """Stands in for webcam hardware: frame i (BGR, `make_frame(i)`) arrives at time i / fps."""

    def __init__(
        self,
        make_frame: Callable[[int], np.ndarray],
        fps: float,
        interrupt_after: int | None = None,
        frames: int = 10_000,
    ):
        self.make_frame = make_frame
        self.fps, self.interrupt_after, self.frames = fps, interrupt_after, frames
        self.next_index, self.released = 0, False

    def clock(self) -> float:
        return (self.next_index - 1) / self.fps  # time of the newest frame read

    def read(self):
        if self.interrupt_after is not None and self.next_index == self.interrupt_after:
            raise KeyboardInterrupt
        if self.next_index >= self.frames:
            return False, None
        frame = np.ascontiguousarray(self.make_frame(self.next_index)[:, :, ::-1])
        self.next_index += 1
        return True, frame

    def release(self) -> None:
        self.released = True


class KeyPresses:
    """Stands in for the keyboard: presses `key` on the n-th preview update."""

    def __init__(self, key: str, on_call: int):
        self.key, self.on_call, self.calls, self.captions = ord(key), on_call, 0, []

    def show(self, frame_bgr, caption: str) -> int:
        self.calls += 1
        self.captions.append(caption)
        return self.key if self.calls == self.on_call else NO_KEY

    def close(self) -> None:
        pass


def daml_record(command: str) -> int:
    """`daml record COMMAND` in-process (paths here hold no spaces)."""
    return main(["record", *command.split()])


@pytest.fixture
def fake_camera(index_frames) -> Callable[..., FakeCamera]:
    """fake_camera(fps, interrupt_after=None, frames=10_000) -> a FakeCamera of index frames."""
    return functools.partial(FakeCamera, index_frames.frame)


@pytest.fixture
def record(index_frames) -> Callable[..., tuple]:
    """record(camera, settings, preview=None, clock=None) -> (result, frame indices, lines)."""

    def run_capture(camera, settings, preview=None, clock=None):
        frames, lines = [], []
        result = capture(
            camera,
            frames.append,
            settings,
            preview=preview,
            clock=clock or camera.clock,
            announce=lines.append,
        )
        return result, [index_frames.index(f) for f in frames], lines

    return run_capture


def test_fast_camera_frames_are_dropped_to_keep_the_rate(fake_camera, record):
    camera = fake_camera(fps=30)
    result, indices, lines = record(camera, CaptureSettings(fps=15, seconds=2, countdown_s=1))
    assert result.frames == 30 and result.stopped_by == "duration"
    assert np.all(np.diff(indices) == 2)  # every other camera frame
    assert indices[0] >= 30  # the 1 s countdown came first
    assert any("starts in 1" in line for line in lines)


def test_slow_camera_frames_are_repeated_to_keep_the_rate(fake_camera, record):
    result, indices, _ = record(
        fake_camera(fps=10), CaptureSettings(fps=15, seconds=2, countdown_s=0)
    )
    assert result.frames == 30
    assert [i - indices[0] for i in indices] == [math.floor(k * 10 / 15) for k in range(30)]


def test_keys_start_early_stop_and_cancel(fake_camera, record):
    settings = CaptureSettings(fps=15, seconds=10, countdown_s=3)
    keys = KeyPresses(" ", on_call=2)  # space during the countdown starts at once
    _, indices, _ = record(fake_camera(fps=15), settings, preview=keys)
    assert indices[0] == 2 and keys.captions[:2] == ["3", "3"]
    keys = KeyPresses("q", on_call=5 + 3)  # q while recording stops it
    result, _, _ = record(
        fake_camera(fps=15), CaptureSettings(fps=15, seconds=10, countdown_s=0), preview=keys
    )
    assert result.stopped_by == "key" and result.frames == 8
    with pytest.raises(DamlError, match="cancelled"):
        record(fake_camera(fps=15), settings, preview=KeyPresses("q", on_call=1))


def test_ctrl_c_keeps_what_was_recorded_and_a_dead_camera_fails(fake_camera, record):
    settings = CaptureSettings(fps=15, seconds=10, countdown_s=0)
    result, indices, _ = record(fake_camera(fps=15, interrupt_after=20), settings)
    assert result.stopped_by == "interrupt" and indices == list(range(20))
    with pytest.raises(ConnectionFailed, match="stopped delivering frames after 12"):
        record(fake_camera(fps=15, frames=12), settings)


@pytest.mark.parametrize(
    ("fps", "seconds", "countdown"),
    [(0, 5, 0), (float("nan"), 5, 0), (2000, 5, 0), (15, 0.1, 0), (15, 5, -1)],
)
def test_capture_settings_are_validated(fps, seconds, countdown):
    with pytest.raises(ConfigError):
        CaptureSettings(fps=fps, seconds=seconds, countdown_s=countdown)


def test_records_from_a_real_video_through_cv2_videocapture(tmp_path, index_frames, record):
    # mp4 keeps exact timestamps (mkv rounds them to milliseconds, which shifts the pacing)
    source = write_video(
        tmp_path / "camera.mp4", np.stack([index_frames.frame(i) for i in range(90)]), 30
    )
    camera = cv2.VideoCapture(str(source))
    try:  # the file's own timestamps play the wall clock, as a live camera's would
        result, indices, _ = record(
            camera,
            CaptureSettings(fps=15, seconds=2, countdown_s=0),
            clock=lambda: camera.get(cv2.CAP_PROP_POS_MSEC) / 1000,
        )
    finally:
        camera.release()
    assert result.frames == 30 and indices == list(range(0, 60, 2))


def test_cli_camera_that_is_absent_fails_in_one_line(tmp_path, capfd):
    assert daml_record(f"--camera 97 --seconds 1 --out {tmp_path / 'cam.mp4'}") == 2
    # capfd: OpenCV's own warnings would go to fd 2, past sys.stderr; there must be none.
    [error] = capfd.readouterr().err.strip().splitlines()
    assert error.startswith("daml record: error: camera 97 cannot be opened")
    assert os.listdir(tmp_path) == []


@pytest.fixture
def source_clip(tmp_path, index_frames) -> Path:
    """3 s at 30 fps, 80x60, lossless: frame i shows index i."""
    frames = np.stack([index_frames.frame(i, 60, 80) for i in range(90)])
    return write_video(tmp_path / "source.mkv", frames, fps=30)


def test_cli_trim_picks_the_right_frames(tmp_path, source_clip, index_frames):
    out = tmp_path / "out" / "demo.mp4"
    cut = "--start 1.2 --end 2.6 --fps 15 --size 32"
    assert daml_record(f"--from-file {source_clip} {cut} --out {out}") == 0
    video = read_video(out)
    assert video.frames.shape == (21, 32, 32, 3) and video.fps == 15
    assert [index_frames.index(f) for f in video.frames] == [36 + 2 * k for k in range(21)]
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["frames"] == 21 and sidecar["fps"] == 15 and sidecar["width"] == 32
    assert sidecar["source"]["start_s"] == 1.2 and sidecar["source"]["kind"] == "file"
    assert sorted(os.listdir(out.parent)) == ["demo.json", "demo.mp4"]


def test_cli_trim_raises_the_rate_and_keeps_the_rest(tmp_path, source_clip, index_frames):
    out = tmp_path / "up.mkv"
    assert daml_record(f"--from-file {source_clip} --start 2.5 --fps 60 --out {out}") == 0
    video = read_video(out)
    assert video.frames.shape == (30, 60, 80, 3)  # to the end of the clip, size kept
    assert [index_frames.index(f) for f in video.frames] == [75 + k // 2 for k in range(30)]


def test_cli_trim_crops_the_workspace(tmp_path):
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[20:60, 100:140] = 255
    source = write_video(tmp_path / "scene.mkv", np.stack([frame] * 6), fps=10)
    out = tmp_path / "crop.mkv"
    assert daml_record(f"--from-file {source} --crop 100,20,40,40 --out {out}") == 0
    assert read_video(out).frames.min() == 255


def test_cli_image_folder_with_source_fps(tmp_path, index_frames):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(20):
        cv2.imwrite(str(folder / f"{i:03d}.jpg"), index_frames.frame(i)[:, :, ::-1])
    out = tmp_path / "from_images.mp4"
    assert daml_record(f"--from-file {folder} --source-fps 10 --start 1 --out {out}") == 0
    video = read_video(out)
    assert video.fps == 10 and [index_frames.index(f) for f in video.frames] == list(range(10, 20))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("--start 2 --end 1", "must be after --start"),
        ("--start 1 --end 1", "must be after --start"),
        ("--start 3.5", "--start 3.5 is beyond the end"),
        ("--start 1 --end 9", "--end 9 is beyond the end"),
        ("--crop 50,0,40,40", "reaches outside the 80x60 video"),
        ("--fps 0", "--fps must be in"),
        ("--size 2", "--size must be in"),
        # another source's options are refused, not ignored (--seconds 3 used to give 4 s)
        ("--seconds 3", "--seconds is for --camera; it does not apply to --from-file"),
        ("--task push", "--task is for --sim; it does not apply to --from-file"),
        ("--image-px 32", "--image-px is for --sim; it does not apply to --from-file"),
    ],
)
def test_cli_trim_bad_arguments(tmp_path, source_clip, capsys, extra, message):
    out = tmp_path / "bad.mp4"
    assert daml_record(f"--from-file {source_clip} {extra} --out {out}") == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert sorted(os.listdir(tmp_path)) == ["source.mkv"]


def test_cli_bad_inputs_and_outputs(tmp_path, source_clip, capsys):
    (tmp_path / "notes.txt").write_text("not a folder")
    assert daml_record(f"--from-file {source_clip} --out {tmp_path / 'notes.txt' / 'x.mp4'}") == 2
    assert "cannot create folder" in capsys.readouterr().err
    assert daml_record(f"--from-file {tmp_path / 'nope.mp4'} --out {tmp_path / 'x.mp4'}") == 2
    assert "nope.mp4: no such file" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "source.mkv"]


@pytest.fixture(scope="module")
def sim_video(tmp_path_factory) -> Path:
    """`daml record --sim` output: pick_place, test split, seed 5, variation 1, 64 px."""
    out = tmp_path_factory.mktemp("sim") / "sim.mp4"
    command = "--sim --task pick_place --variation 1 --split test --seed 5 --image-px 64"
    assert daml_record(f"{command} --out {out}") == 0
    return out


def test_cli_sim_avatar_video_is_eval_case_k_and_a_loadable_demo(sim_video):
    import sim
    from daml.commands.eval import SimCases

    sidecar = json.loads(sim_video.with_suffix(".json").read_text())
    steps = sidecar["frames"]
    assert sidecar["source"]["kind"] == "sim" and sidecar["source"]["variation_index"] == 1
    demo = load_demo_frames(sim_video, frames=steps, image_px=64)
    assert demo.shape == (steps, 64, 64, 3)
    # the video is what `daml eval --task pick_place --split test --seed 5` adapts on for case 1
    config = sim.EnvConfig(image_px=64)
    case = list(SimCases("pick_place", "test", 2, 5, config))[1]
    assert case.human_frames.shape == demo.shape
    assert np.abs(case.human_frames.astype(int) - demo.astype(int)).mean() < 6  # mp4 coding loss
    assert sidecar["source"]["variation"] == json.loads(json.dumps(case.variation.to_dict()))
    assert read_video(sim_video).fps == config.control_hz


def test_cli_adapt_accepts_the_sim_video(sim_video, tmp_path, tiny_model):
    import torch

    from daml.adapt import load_adapted
    from daml.checkpoint import Checkpoint, save_checkpoint
    from daml.config import RunConfig
    from daml.meta import init_params

    params = init_params(tiny_model, torch.Generator().manual_seed(0))
    checkpoint = tmp_path / "meta.pt"
    save_checkpoint(checkpoint, Checkpoint("meta", RunConfig(model=tiny_model), params))
    adapted = tmp_path / "adapted.pt"
    assert main(["adapt", "--checkpoint", str(checkpoint), "--video", str(sim_video), "--out",
                 str(adapted)]) == 0  # fmt: skip
    action = load_adapted(adapted).act(np.zeros((16, 16, 3), np.uint8), np.zeros(4, np.float32))
    assert action.shape == (4,) and np.all(np.isfinite(action))


def test_cli_sim_take_is_another_video_of_the_same_scene(sim_video, tmp_path, capsys):
    """`--take 1`: the variation and reset seed of take 0, its own look and demonstrator run,
    the frames that `daml collect --human-takes` renders as take 1 of that case."""
    import sim
    from daml.human_takes import render_takes

    out = tmp_path / "take1.mp4"
    command = "--sim --task pick_place --variation 1 --split test --seed 5 --image-px 64"
    assert daml_record(f"{command} --take 1 --out {out}") == 0
    assert "(seed 5, take 1)" in capsys.readouterr().out
    first = json.loads(sim_video.with_suffix(".json").read_text())["source"]
    take = json.loads(out.with_suffix(".json").read_text())["source"]
    assert take["take"] == 1 and take["variation"] == first["variation"]
    assert take["look"] != first["look"] and take["human_seed"] != first["human_seed"]
    frames = load_demo_frames(out, frames=40, image_px=64)
    assert np.abs(frames.astype(int) - load_demo_frames(sim_video, 40, 64).astype(int)).mean() > 2
    variation = sim.Variation.from_dict(first["variation"])
    with sim.make_env("pick_place", sim.EnvConfig(image_px=64)) as env:
        expected, _, _ = render_takes(env, "test", 5, 1, variation, range(1, 2))
    assert np.abs(expected[0].astype(int) - frames.astype(int)).mean() < 6  # mp4 coding loss

    assert daml_record(f"{command} --take -1 --out {tmp_path / 'bad.mp4'}") == 2
    assert "--take must be >= 0" in capsys.readouterr().err
    camera = f"--camera 0 --take 1 --out {tmp_path / 'cam.mp4'}"
    assert daml_record(camera) == 2
    assert "--take is for --sim" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["take1.json", "take1.mp4"]
