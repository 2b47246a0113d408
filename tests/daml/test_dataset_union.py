"""Several dataset directories as one training set: order, checks, and `daml train --data A B`."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from daml import train
from daml.checkpoint import load_checkpoint
from daml.cli import main
from daml.data import DemoDataset
from daml.dataset_union import DatasetUnion, open_training_data
from daml.errors import DataError
from daml.meta_batch import MetaBatchLoader


@pytest.fixture
def two_parts(tmp_path, synthetic_dataset):
    first = synthetic_dataset(tmp_path / "a", 6, seed=11)
    second = synthetic_dataset(tmp_path / "b", 10, seed=12, masks=False)
    return first, second


def test_union_reads_every_episode_of_each_part_in_order(two_parts):
    first, second = two_parts
    union = DatasetUnion([first, second])
    parts = [DemoDataset(first), DemoDataset(second)]
    assert len(union) == 16 and union.manifest.variations == 16
    assert not union.manifest.human_masks  # the second part records no avatar masks
    expected = [parts[0][i] for i in range(6)] + [parts[1][i] for i in range(10)]
    for index, episode in enumerate(expected):
        assert np.array_equal(union[index].robot_actions, episode.robot_actions)
        assert np.array_equal(union[index].human_frames, episode.human_frames)
    assert np.array_equal(union[-1].robot_states, expected[-1].robot_states)
    with pytest.raises(IndexError):
        union[16]
    assert str(first) in union.root and str(second) in union.root


def test_meta_batches_shuffle_over_all_parts(two_parts):
    union = DatasetUnion(list(two_parts))
    loader = MetaBatchLoader(union, meta_batch=4, seed=3)
    drawn = np.concatenate([loader.indices(step) for step in range(4)])  # one epoch
    assert sorted(drawn) == list(range(16))
    assert len(loader.batch(0)) == 4


def test_open_training_data_gives_a_plain_dataset_for_one_directory(two_parts):
    first, second = two_parts
    assert isinstance(open_training_data(first), DemoDataset)
    assert isinstance(open_training_data([str(first)]), DemoDataset)
    assert isinstance(open_training_data([first, second]), DatasetUnion)


def test_union_refuses_other_frame_formats_and_one_collection_twice(
    tmp_path, two_parts, synthetic_dataset
):
    first, _ = two_parts
    coarse = synthetic_dataset(tmp_path / "coarse", 4, seed=13, image_px=8)
    with pytest.raises(DataError, match="image_px=8 but .* has image_px=16"):
        DatasetUnion([first, coarse])
    with pytest.raises(DataError, match="given twice"):
        DatasetUnion([first, first])
    copy = shutil.copytree(first, tmp_path / "copy")
    with pytest.raises(DataError, match="same collection .* seed 11"):
        DatasetUnion([first, copy])
    with pytest.raises(DataError, match="at least two"):
        DatasetUnion([first])


def test_cli_trains_on_two_directories_and_refuses_a_mismatch(
    train_args, tmp_path, two_parts, synthetic_data_dirs, config_path, synthetic_dataset, capsys
):
    val = synthetic_data_dirs["val"]
    out = tmp_path / "run"
    assert main(train_args({"train": two_parts, "val": val}, out, config_path, "--steps", "2")) == 0
    assert "trained 2 steps" in capsys.readouterr().out
    assert load_checkpoint(out / "last.pt", kind="meta").step == 2
    coarse = synthetic_dataset(tmp_path / "coarse", 4, seed=13, image_px=8)
    refused = tmp_path / "refused"
    mismatch = {"train": [two_parts[0], coarse], "val": val}
    assert main(train_args(mismatch, refused, config_path, "--steps", "2")) == 2
    err = capsys.readouterr().err
    assert "must match in task, image_px" in err and len(err.strip().splitlines()) == 1
    assert not refused.exists()


def test_state_statistics_read_every_part_of_a_union(two_parts, tiny_run_config, monkeypatch):
    assert train.state_stats_indices(3) == [0, 1, 2]
    assert (
        train.state_stats_indices(1000)[:2] == [0, 16]
        and len(train.state_stats_indices(1000)) == 64
    )
    monkeypatch.setattr(train, "STATE_STATS_EPISODES", 4)
    union = DatasetUnion(list(two_parts))
    assert train.state_stats_indices(len(union)) == [0, 5, 10, 15]  # 10 and 15 are part two
    fitted = train.fit_to_dataset(tiny_run_config, union)
    states = np.concatenate([union[i].robot_states for i in (0, 5, 10, 15)])
    mean, std = train.state_statistics(states)
    assert fitted.model.state_mean == mean and fitted.model.state_std == std
