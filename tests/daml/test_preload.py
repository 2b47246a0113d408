"""`daml train --preload`: episodes decoded into memory once, the same training, a clear refusal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from daml.checkpoint import load_checkpoint
from daml.cli import main
from daml.data import DemoDataset
from daml.dataset_union import DatasetUnion
from daml.errors import ConfigError
from daml.preload import PreloadedEpisodes


def _same_episode(a, b) -> bool:
    keys = ("robot_frames", "robot_states", "robot_actions", "human_frames", "human_masks")
    return a.variation == b.variation and all(
        np.array_equal(getattr(a, key), getattr(b, key)) for key in keys
    )


def test_preloaded_episodes_equal_the_datasets_in_order(synthetic_data_dirs):
    dataset = DemoDataset(synthetic_data_dirs["train"])
    preloaded = PreloadedEpisodes(dataset, threads=3, progress=False)
    assert len(preloaded) == len(dataset) == 64
    assert preloaded.root == dataset.root and preloaded.manifest == dataset.manifest
    assert all(_same_episode(preloaded[i], dataset[i]) for i in range(len(dataset)))
    assert preloaded.nbytes == sum(dataset[i].nbytes for i in range(len(dataset)))


def test_preloads_a_union_in_the_unions_order(tmp_path, synthetic_dataset):
    first = synthetic_dataset(tmp_path / "a", 5, seed=11, split="train")
    second = synthetic_dataset(tmp_path / "b", 4, seed=12, split="train")
    union = DatasetUnion([first, second])
    preloaded = PreloadedEpisodes(union, threads=2, progress=False)
    assert len(preloaded) == 9
    assert all(_same_episode(preloaded[i], union[i]) for i in range(9))


def test_refuses_a_set_larger_than_the_available_memory(synthetic_data_dirs, monkeypatch):
    dataset = DemoDataset(synthetic_data_dirs["train"])
    monkeypatch.setattr("daml.preload.available_memory_bytes", lambda: 1000)
    with pytest.raises(ConfigError, match=r"preloading 64 episodes .* train without --preload"):
        PreloadedEpisodes(dataset, progress=False)


def test_preloaded_training_matches_training_from_disk(
    train_args, tmp_path, synthetic_data_dirs, config_path, capsys
):
    dirs = {"train": synthetic_data_dirs["train"]}
    jitter = ("--steps", "3", "--set", "train.avatar_hue_jitter=0.5")
    runs = {}
    for name, extra in (("disk", []), ("memory", ["--preload"])):
        out = tmp_path / name
        assert main(train_args(dirs, out, config_path, *jitter, *extra)) == 0
        runs[name] = load_checkpoint(out / "last.pt")
    assert "trained 3 steps" in capsys.readouterr().out
    disk, memory = runs["disk"], runs["memory"]
    assert disk.step == memory.step == 3
    assert disk.config.train.avatar_hue_jitter == memory.config.train.avatar_hue_jitter == 0.5
    for name in disk.params:
        assert torch.equal(disk.params[name], memory.params[name]), name


def test_cli_refusal_exits_2_with_one_line_and_writes_no_run_dir(
    train_args, tmp_path, synthetic_data_dirs, config_path, monkeypatch, capsys
):
    monkeypatch.setattr("daml.preload.available_memory_bytes", lambda: 1000)
    out = tmp_path / "run"
    dirs = {"train": synthetic_data_dirs["train"]}
    assert main(train_args(dirs, out, config_path, "--preload")) == 2
    err = capsys.readouterr().err
    assert "train without --preload" in err and err.count("\n") == 1
    assert not out.exists()


def test_a_corrupt_episode_exits_2_naming_it_before_any_run_file(
    train_args, tmp_path, synthetic_dataset, config_path, capsys
):
    data = synthetic_dataset(tmp_path / "data", 6, seed=13, split="train")
    broken = sorted((data / "episodes").glob("*.npz"))[4]
    broken.write_bytes(broken.read_bytes()[:100])
    out = tmp_path / "run"
    assert main(train_args({"train": data}, out, config_path, "--preload")) == 2
    err = capsys.readouterr().err
    assert broken.name in err and "corrupt or truncated" in err and err.count("\n") == 1
    assert not out.exists()
