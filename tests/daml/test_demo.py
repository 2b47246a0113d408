"""`daml demo` end to end: render a sample human video, adapt a tiny checkpoint on it, roll out in
the sim, and write decodable videos; missing files exit 2 with one line."""

from __future__ import annotations

import json
import shutil

import cv2
import pytest
import torch

from daml.cli import main
from daml.shipped import PRETRAINED_DIR, pretrained_checkpoint, sample_human_video, sample_sidecar
from daml.video import read_video


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, untrained_checkpoint) -> str:
    path = tmp_path_factory.mktemp("demo_ckpt") / "tiny.pt"
    return str(untrained_checkpoint(path, conv_strides=(2, 1)))


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A sample human video + sidecar made by `daml demo --make-sample` (32 px)."""
    out = tmp_path_factory.mktemp("sample")
    assert main(["demo", "--make-sample", "--task", "pick_place", "--out", str(out),
                 "--image-px", "32"]) == 0  # fmt: skip
    return out / "pick_place_human_demo.mp4"


def test_make_sample_writes_a_video_and_its_variation(sample):
    frames = read_video(sample).frames
    assert frames.shape == (40, 32, 32, 3)
    sidecar = json.loads(sample_sidecar(sample).read_text())
    assert sidecar["split"] == "test" and sidecar["variation"]["task"] == "pick_place"


def test_demo_adapts_runs_and_writes_decodable_videos(tmp_path, checkpoint, sample, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--checkpoint", checkpoint, "--video", str(sample), "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(("pick_place: SUCCESS", "pick_place: failure"))
    assert str(sample_sidecar(sample)) in printed  # the robot got the video's variation
    rollout = read_video(out / "pick_place_rollout.mp4").frames
    both = read_video(out / "pick_place_side_by_side.mp4").frames
    assert rollout.shape == (41, 32, 32, 3)
    assert len(both) == 41 and both.shape[2] > 2 * both.shape[1] - 8  # two square panels


def test_demo_without_a_sidecar_uses_the_fixed_test_variation(tmp_path, checkpoint, sample, capsys):
    video = tmp_path / "my_demo.mp4"
    shutil.copy(sample, video)
    args = ["demo", "--checkpoint", checkpoint, "--video", str(video), "--out", str(tmp_path)]
    assert main(args) == 0
    assert "fixed test variation" in capsys.readouterr().out


def test_demo_adapts_on_an_image_folder(tmp_path, checkpoint, sample, capsys):
    """The README's video inputs include image folders; `daml demo --video` takes them too."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(read_video(sample).frames):
        cv2.imwrite(str(folder / f"{index:03d}.png"), frame[..., ::-1])
    args = ["demo", "--checkpoint", checkpoint, "--video", str(folder), "--out", str(tmp_path)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"adapted on {folder}" in printed and "fixed test variation" in printed
    (tmp_path / "empty").mkdir()
    assert main([*args[:4], str(tmp_path / "empty"), *args[5:]]) == 2
    assert "holds no .png/.jpg/.jpeg images" in capsys.readouterr().err


def test_a_sim_recording_gets_the_variation_it_shows(tmp_path, checkpoint, capsys, monkeypatch):
    """`daml record --sim --variation 2` then `daml demo --video`: the robot gets `daml eval`'s
    case 2 of that split and seed (it used to get the fixed test variation, another scene)."""
    import daml.evaluate
    import sim
    from daml.commands.eval import SimCases

    video = tmp_path / "sim_v2.mp4"
    record = ["record", "--sim", "--task", "pick_place", "--split", "test", "--seed", "5"]
    assert main([*record, "--variation", "2", "--image-px", "32", "--out", str(video)]) == 0
    rolled_out = []
    real_rollout = daml.evaluate.rollout

    def spy(env, policy, variation, reset_seed):
        rolled_out.append((variation, reset_seed))
        return real_rollout(env, policy, variation, reset_seed)

    monkeypatch.setattr(daml.evaluate, "rollout", spy)
    capsys.readouterr()
    args = ["demo", "--checkpoint", checkpoint, "--video", str(video), "--out", str(tmp_path)]
    assert main(args) == 0
    assert f"{tmp_path / 'sim_v2.json'}: test variation 2 (seed 5)" in capsys.readouterr().out
    env_config = sim.EnvConfig(image_px=32, episode_steps=40)
    case = list(SimCases("pick_place", "test", 3, 5, env_config))[2]
    assert rolled_out == [(case.variation, case.reset_seed)]

    monkeypatch.undo()
    assert main([*args, "--task", "push"]) == 2  # the video shows a pick_place scene
    assert "pass --task pick_place" in capsys.readouterr().err
    sidecar = tmp_path / "sim_v2.json"
    recorded = json.loads(sidecar.read_text())
    recorded["source"] = {"kind": "file", "path": "phone.mp4"}  # not a sim scene
    sidecar.write_text(json.dumps(recorded))
    assert main(args) == 0 and "fixed test variation" in capsys.readouterr().out
    sidecar.write_text('{"source": {"kind": "sim"}}')
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "is not a `daml record` sidecar" in err and err.count("\n") == 1


def test_takes_of_one_scene_are_averaged_and_other_scenes_refused(
    tmp_path, checkpoint, capsys, monkeypatch
):
    """`daml demo --video A B`: two `record --sim` takes of one scene adapt one policy (their
    weights averaged, as `daml adapt --video A B`), whose robot gets that scene; a video of
    another scene is refused before anything is written."""
    import daml.evaluate
    from daml.adapt import adapt_from_video

    record = ["record", "--sim", "--task", "pick_place", "--split", "test", "--seed", "5",
              "--image-px", "32", "--variation"]  # fmt: skip
    takes = [tmp_path / "take0.mp4", tmp_path / "take1.mp4"]
    assert main([*record, "2", "--out", str(takes[0])]) == 0
    assert main([*record, "2", "--take", "1", "--out", str(takes[1])]) == 0
    assert main([*record, "3", "--out", str(tmp_path / "other.mp4")]) == 0
    adapted = []
    real_rollout = daml.evaluate.rollout

    def spy(env, policy, variation, reset_seed):
        adapted.append(policy)
        return real_rollout(env, policy, variation, reset_seed)

    monkeypatch.setattr(daml.evaluate, "rollout", spy)
    capsys.readouterr()
    out = tmp_path / "demo"
    args = ["demo", "--checkpoint", checkpoint, "--out", str(out), "--video"]
    assert main([*args, *map(str, takes)]) == 0
    printed = capsys.readouterr().out
    assert "2 videos averaged" in printed and "test variation 2 (seed 5)" in printed
    expected = adapt_from_video(checkpoint, takes)
    for name, value in expected.params.items():
        assert torch.allclose(adapted[0].params[name], value, atol=1e-6), name
    single = adapt_from_video(checkpoint, takes[0]).params
    assert any(not torch.allclose(single[n], v, atol=1e-6) for n, v in expected.params.items())

    refused = ["demo", "--checkpoint", checkpoint, "--out", str(tmp_path / "refused")]
    assert main([*refused, "--video", str(takes[0]), str(tmp_path / "other.mp4")]) == 2
    err = capsys.readouterr().err
    assert "shows another scene than" in err and err.count("\n") == 1
    assert not (tmp_path / "refused").exists()


def test_missing_files_exit_2_with_one_line(tmp_path, checkpoint, sample, capsys, monkeypatch):
    missing_model = ["demo", "--checkpoint", str(tmp_path / "none.pt"), "--video", str(sample)]
    missing_video = ["demo", "--checkpoint", checkpoint, "--video", str(tmp_path / "none.mp4")]
    no_sample = ["demo", "--checkpoint", checkpoint, "--out", str(tmp_path)]
    cases = [
        (missing_model, "daml train"),
        (missing_video, "pass a video file or an image folder"),
        (no_sample, "--make-sample"),  # only the shipped sample can be rendered again
    ]
    monkeypatch.setattr("daml.shipped.sample_human_video", lambda task: tmp_path / "none.mp4")
    for args, hint in cases:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert hint in err and err.count("\n") == 1


def test_an_unknown_task_is_named_before_any_missing_file(tmp_path, capsys):
    assert main(["demo", "--task", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'nope'" in err and "pick_place, push" in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--image-px", "32"], "--image-px is for --make-sample"),
        (["--make-sample", "--video", "x.mp4"], "--video is for the demo run"),
        (["--make-sample", "--checkpoint", "x.pt"], "--checkpoint is for the demo run"),
    ],
)
def test_options_of_the_other_mode_are_refused_not_ignored(tmp_path, capsys, flags, message):
    """`daml demo --image-px 32` used to run the 64 px demo as if the option were not given."""
    assert main(["demo", *flags, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_shipped_files_resolve_inside_the_package():
    assert PRETRAINED_DIR.parent.name == "daml" and (PRETRAINED_DIR.parent / "cli.py").is_file()
    assert pretrained_checkpoint("push") == PRETRAINED_DIR / "push.pt"
    assert pretrained_checkpoint("push", "bc") == PRETRAINED_DIR / "push_bc.pt"
    assert sample_human_video("push").parent == PRETRAINED_DIR
