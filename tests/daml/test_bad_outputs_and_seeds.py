"""Bad --seed, --out and config values: one line, exit 2, before any work, nothing written."""

from __future__ import annotations

import pytest

from daml.cli import main
from daml.config import RunConfig
from daml.errors import ConfigError, DataError
from daml.output_path import check_output_file, check_output_folder, make_folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, untrained_checkpoint) -> str:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    return str(untrained_checkpoint(path, conv_strides=(2, 1)))


@pytest.mark.parametrize(
    "args",
    [
        ["collect", "--task", "push", "--variations", "1", "--out", "{tmp}/data"],
        ["eval", "--checkpoint", "x.pt", "--task", "push", "--variations", "1"],
        ["record", "--sim", "--task", "push", "--out", "{tmp}/v.mp4"],
        ["train", "--data", "{tmp}/data", "--out", "{tmp}/run"],
        ["bench", "--data", "{tmp}/data", "--episodes", "1"],
        ["twin", "--config", "launch/panda_sim.toml"],
    ],
)
def test_a_negative_seed_is_refused_before_anything_is_written(tmp_path, capsys, args):
    argv = [a.format(tmp=tmp_path) for a in args] + ["--seed", "-1"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "argument --seed: must be in [0, 4294967295], got -1" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_negative_seed_in_a_config_file_is_refused():
    with pytest.raises(ConfigError, match=r"train.seed must be in \[0, 4294967295\], got -3"):
        RunConfig.from_dict({"train": {"seed": -3}})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"meta": {"second_order": "false"}},
            'meta.second_order must be true or false, got "false"',
        ),
        ({"train": {"steps": 1.5}}, "train.steps must be an integer, got 1.5"),
        ({"train": {"steps": True}}, "train.steps must be an integer, got true"),
        ({"train": {"outer_lr": "fast"}}, 'train.outer_lr must be a number, got "fast"'),
        ({"train": {"batching": 3}}, "train.batching must be a string, got 3"),
        ({"model": {"conv_channels": 16}}, "conv_channels must be a list of integers, got 16"),
    ],
)
def test_config_values_must_have_their_fields_types(raw, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict(raw)


def test_a_number_field_takes_an_integer_and_the_saved_config_reads_back():
    config = RunConfig.from_dict({"train": {"outer_lr": 1}, "model": {"temporal_loss_scale": 5}})
    assert config.train.outer_lr == 1
    assert RunConfig.from_json(config.to_json()) == config


def test_output_paths_that_cannot_be_written_raise_a_data_error(tmp_path):
    blocker = tmp_path / "keep.txt"
    blocker.write_text("mine")
    with pytest.raises(DataError, match="keep.txt is a file, not a folder"):
        check_output_file(blocker / "report.json")
    with pytest.raises(DataError, match="keep.txt is a file, not a folder"):
        check_output_folder(blocker / "run")
    with pytest.raises(DataError, match="is a folder; give the path of the file"):
        check_output_file(tmp_path)
    assert check_output_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # checked, not made
    assert make_folder(tmp_path / "a" / "b").is_dir()
    assert blocker.read_text() == "mine"


@pytest.mark.parametrize("command", ["eval", "adapt", "export", "train"])
def test_an_out_under_a_file_fails_in_one_line_before_the_work(
    tmp_path, capsys, checkpoint, command
):
    blocker = tmp_path / "keep.txt"
    blocker.write_text("mine")
    out = str(blocker / ("run" if command == "train" else "out.json"))
    argv = {
        "eval": ["eval", "--checkpoint", checkpoint, "--task", "push", "--variations", "2"],
        "adapt": ["adapt", "--checkpoint", checkpoint, "--video", "demos/push_human_demo.mp4"],
        "export": ["export", "--checkpoint", checkpoint],
        "train": ["train", "--data", "missing_data_is_checked_later", "--steps", "1"],
    }[command]
    assert main([*argv, "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "keep.txt is a file, not a folder" in err
    assert blocker.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
