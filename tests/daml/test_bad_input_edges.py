"""Bad input at the edges (fresh-user audit, session 54): what the file system refuses, numbers
past any sensible range, output paths in the way, and files of the wrong kind. Each is one line
on stderr and exit 2, before the work, with nothing written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from daml.cli import main
from daml.errors import DataError
from daml.shipped import PRETRAINED_DIR, sample_human_video

SHIPPED_PUSH = str(PRETRAINED_DIR / "push.pt")


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_a_name_the_file_system_refuses_is_one_line(tmp_path, capsys):
    out = tmp_path / ("a" * 300 + ".pt")  # > NAME_MAX: only the OS knows
    assert main(["export", "--checkpoint", SHIPPED_PUSH, "--out", str(out)]) == 2
    assert "File name too long" in one_line_error(capsys)


def test_a_temp_file_that_cannot_be_made_is_a_data_error(tmp_path, monkeypatch):
    import tempfile

    from daml.output_path import write_bytes_atomic

    def refuse(**_):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(DataError, match="cannot write .*x.json: Permission denied"):
        write_bytes_atomic(tmp_path / "x.json", b"{}")
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("command", ["run", "twin"])
def test_a_launch_config_that_is_a_folder_or_not_text_is_one_line(tmp_path, capsys, command):
    extra = ["--policy", "p.pt", "--max-steps", "1"] if command == "run" else []
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe")
    assert main([command, "--config", str(tmp_path), *extra]) == 2
    assert "is a folder; pass the .toml file" in one_line_error(capsys)
    assert main([command, "--config", str(binary), *extra]) == 2
    assert "cannot read launch config" in one_line_error(capsys)


def test_metrics_cut_short_by_a_kill_resume_and_a_damaged_line_is_named(tmp_path):
    from daml.train_log import MetricsLog

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "split": "train"}\n{"step": 2, "split": "train"}\n{"step": 3, "sp')
    assert [r["step"] for r in MetricsLog(path, keep_until_step=2).records()] == [1, 2]
    assert path.read_text().count("\n") == 2  # the torn line is gone from the file too
    path.write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(DataError, match="metrics.jsonl line 2 is not a metrics record"):
        MetricsLog(path, keep_until_step=3)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval", "--checkpoint", "x.pt", "--task", "push", "--seed", str(2**32)], "--seed"),
        (
            [
                "adapt",
                "--checkpoint",
                "x.pt",
                "--video",
                "v.mp4",
                "--out",
                "a.pt",
                "--threads",
                "100000",
            ],
            "--threads",
        ),  # fmt: skip
    ],
)
def test_numbers_past_their_range_are_refused_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert f"argument {message}: must be in [" in capsys.readouterr().err


def test_a_config_seed_past_32_bits_is_a_config_error():
    from daml.config import TrainConfig
    from daml.errors import ConfigError

    with pytest.raises(ConfigError, match=r"train.seed must be in \[0, 4294967295\]"):
        TrainConfig(seed=2**70)


def test_eval_refuses_an_unknown_task_and_an_absurd_count(tmp_path, capsys):
    common = ["eval", "--checkpoint", SHIPPED_PUSH, "--out", str(tmp_path / "e.json")]
    assert main([*common, "--task", "fly"]) == 2
    assert "unknown task 'fly'" in one_line_error(capsys)
    assert main([*common, "--task", "push", "--variations", str(2**70)]) == 2
    assert "--variations must be in [1, 1000000]" in one_line_error(capsys)
    assert not (tmp_path / "e.json").exists()


def test_eval_of_a_shipped_model_writes_its_report_under_runs_not_into_the_package():
    from pathlib import Path

    from daml.commands.eval import default_out

    assert default_out(SHIPPED_PUSH, "data/push_test") == Path("runs/eval_push_push_test.json")
    assert default_out("runs/p/best.pt", "push_test") == Path("runs/p/eval_push_test.json")


def test_bench_checks_out_before_the_rollouts(tmp_path, capsys):
    in_the_way = tmp_path / "a_file"
    in_the_way.write_text("mine")
    argv = ["bench", "--task", "push", "--episodes", "1", "--no-progress"]
    assert main([*argv, "--out", str(in_the_way)]) == 2
    assert "is a file, not a folder" in one_line_error(capsys)
    assert in_the_way.read_text() == "mine"


def test_demo_checks_both_videos_before_the_rollout(tmp_path, capsys):
    out = tmp_path / "demo"
    (out / "push_side_by_side.mp4").mkdir(parents=True)
    assert main(["demo", "--task", "push", "--out", str(out)]) == 2
    assert "push_side_by_side.mp4 is a folder" in one_line_error(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["push_side_by_side.mp4"]


def test_record_checks_its_sidecar_before_writing_the_video(tmp_path, capsys):
    out = tmp_path / "clip.mp4"
    (tmp_path / "clip.json").mkdir()
    argv = ["record", "--from-file", str(sample_human_video("push")), "--out", str(out)]
    assert main(argv) == 2
    assert "clip.json is a folder" in one_line_error(capsys)
    assert not out.exists()
    assert main(["record", "--camera", "-1", "--out", str(out)]) == 2
    assert "--camera must be a camera index >= 0" in one_line_error(capsys)


def test_files_of_the_wrong_kind_say_so(tmp_path, capsys):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"task": "push"}))
    adapt = ["adapt", "--checkpoint", SHIPPED_PUSH, "--out"]
    assert main([*adapt, str(tmp_path / "a.pt"), "--episode", str(manifest)]) == 2
    err = one_line_error(capsys)
    assert "is not a daml episode" in err and "delete" not in err and "pickle" not in err
    assert main(["export", "--checkpoint", str(tmp_path), "--out", str(tmp_path / "e.pt")]) == 2
    assert "is a folder; pass a file in it" in one_line_error(capsys)
    folder_out = str(tmp_path / "new_dir") + "/"
    frames = str(sample_human_video("push"))
    assert (
        main(["adapt", "--checkpoint", SHIPPED_PUSH, "--video", frames, "--out", folder_out]) == 2
    )
    assert "new_dir/ is a folder; give the path of the file to write" in one_line_error(capsys)
    assert not (tmp_path / "new_dir").exists()
    assert not np.any([p.suffix == ".tmp" for p in tmp_path.iterdir()])


def test_an_unreadable_video_is_named_as_unreadable_not_undecodable(monkeypatch):
    import os

    from daml.video import read_video

    monkeypatch.setattr(os, "access", lambda path, mode: False)  # (root may read anything)
    with pytest.raises(DataError, match="push_human_demo.mp4: not readable"):
        read_video(sample_human_video("push"))


def test_os_errors_of_an_output_path_are_data_errors_naming_the_target(tmp_path, monkeypatch):
    import os

    from daml.output_path import check_output_file, write_bytes_atomic

    with pytest.raises(DataError, match="cannot write .*: File name too long"):
        check_output_file(tmp_path / ("a" * 300 + ".json"))

    def refuse(source, target):
        raise PermissionError(13, "Permission denied", str(source), None, str(target))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(DataError, match=r"cannot write .*report.json: Permission denied"):
        write_bytes_atomic(tmp_path / "report.json", b"{}")
    assert list(tmp_path.iterdir()) == []  # the temp file is gone too


def test_library_calls_with_bad_weights_devices_or_demos_raise_daml_errors(tmp_path):
    """The Python API (audit, session 54): a GPU this machine lacks, a damaged header, NaN
    weights and a NaN robot demo are DamlErrors naming the problem, not torch errors or a
    policy that acts NaN."""
    import io

    import torch

    from daml.adapt import adapt_from_robot_demo, load_adapted
    from daml.checkpoint import load_checkpoint
    from daml.errors import ConfigError

    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device is available"):
            load_checkpoint(SHIPPED_PUSH, map_location="cuda")
        with pytest.raises(ConfigError, match="no CUDA device is available"):
            load_adapted(SHIPPED_PUSH, device="cuda")

    def damaged(name: str, change) -> str:
        payload = torch.load(SHIPPED_PUSH, weights_only=True)
        change(payload)
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        (tmp_path / name).write_bytes(buffer.getvalue())
        return str(tmp_path / name)

    with pytest.raises(DataError, match=r"damaged header \(step\)"):
        load_checkpoint(damaged("step.pt", lambda p: p.update(step="abc")))
    with pytest.raises(DataError, match=r"damaged header \(config, info\)"):
        load_checkpoint(damaged("header.pt", lambda p: p.update(config=None, info=[1, 2])))
    first = next(iter(torch.load(SHIPPED_PUSH, weights_only=True)["params"]))
    nan = damaged("nan.pt", lambda p: p["params"][first].fill_(float("nan")))
    with pytest.raises(DataError, match=f"NaN or infinite weights \\({first}"):
        load_checkpoint(nan)
    with pytest.raises(ConfigError, match="checkpoint kind must be one of"):
        load_checkpoint(SHIPPED_PUSH, kind="bogus")
    frames, states = np.zeros((40, 64, 64, 3), np.uint8), np.zeros((40, 4), np.float32)
    actions = np.full((40, 4), np.nan, np.float32)
    mil = str(PRETRAINED_DIR / "push_mil.pt")
    with pytest.raises(DataError, match="must be finite"):
        adapt_from_robot_demo(mil, frames, states, actions)


def test_export_refuses_one_blend_path_given_as_a_string(tmp_path):
    """A str is a sequence, of characters: blends='model.pt' was read as files 'm', 'o', ..."""
    from daml.checkpoint import export_checkpoint

    with pytest.raises(TypeError, match="blends must be a sequence of paths, got one path"):
        export_checkpoint(SHIPPED_PUSH, tmp_path / "out.pt", blends=SHIPPED_PUSH)
    assert not (tmp_path / "out.pt").exists()
