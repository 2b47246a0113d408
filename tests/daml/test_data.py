"""Dataset format round trip, corrupt-episode errors and meta-batch loading (no simulator)."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from daml.data import (
    DemoDataset,
    Episode,
    Manifest,
    episode_path,
    load_episode,
    save_episode,
)
from daml.errors import ConfigError, DataError
from daml.meta_batch import MetaBatch, MetaBatchLoader
from daml.output_path import write_bytes_atomic
from tests.dataset_files import save_dataset

T, PX = 5, 8


def make_episode(rng: np.random.Generator, index: int) -> Episode:
    return Episode(
        robot_frames=rng.integers(0, 256, (T, PX, PX, 3), dtype=np.uint8),
        robot_states=rng.normal(size=(T, 4)).astype(np.float32),
        robot_actions=rng.uniform(-1, 1, (T, 4)).astype(np.float32),
        human_frames=rng.integers(0, 256, (T, PX, PX, 3), dtype=np.uint8),
        variation={"index": index, "target": "cube"},
    )


def make_dataset(root: Path, count: int) -> list[Episode]:
    manifest = Manifest("push", "train", count, 0, PX, control_hz=10.0, episode_steps=T)
    rng = np.random.default_rng(0)
    episodes = [make_episode(rng, i) for i in range(count)]
    save_dataset(root, manifest, episodes)
    return episodes


def test_episode_round_trip_is_exact(tmp_path):
    episodes = make_dataset(tmp_path, 3)
    dataset = DemoDataset(tmp_path)
    assert len(dataset) == 3 and dataset.manifest.task == "push"
    for original, loaded in zip(episodes, (dataset[i] for i in range(3)), strict=True):
        for key in ("robot_frames", "robot_states", "robot_actions", "human_frames"):
            np.testing.assert_array_equal(getattr(original, key), getattr(loaded, key))
            assert getattr(original, key).dtype == getattr(loaded, key).dtype
        assert loaded.variation == original.variation
    assert not list(tmp_path.rglob("*.tmp")), "atomic writes leave no temp files"


def test_avatar_masks_are_optional_and_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    with_masks = make_episode(rng, 0)
    with_masks.human_masks = rng.random((T, PX, PX)) < 0.2
    save_episode(episode_path(tmp_path, 0), with_masks)
    save_episode(episode_path(tmp_path, 1), make_episode(rng, 1))
    loaded = load_episode(episode_path(tmp_path, 0))
    assert loaded.human_masks.dtype == np.bool_
    np.testing.assert_array_equal(loaded.human_masks, with_masks.human_masks)
    assert load_episode(episode_path(tmp_path, 1)).human_masks is None  # older datasets
    episodes = [load_episode(episode_path(tmp_path, i)) for i in (0, 0, 1)]
    both = MetaBatch.from_episodes(episodes[:2])
    assert both.human_masks.shape == (2, T, PX, PX) and both.human_masks.dtype == torch.bool
    assert MetaBatch.from_episodes(episodes).human_masks is None  # not every episode has them
    assert both.to("cpu").human_masks.shape == (2, T, PX, PX)
    assert MetaBatch.from_episodes(episodes).to("cpu").human_masks is None
    bad = make_episode(rng, 2)
    bad.human_masks = np.zeros((T, PX, PX), np.uint8)
    with pytest.raises(DataError, match="human_masks"):
        save_episode(episode_path(tmp_path, 2), bad)
    assert not episode_path(tmp_path, 2).exists()


def test_episode_file_with_misshapen_masks_gives_clear_error(tmp_path):
    episode = make_episode(np.random.default_rng(3), 0)
    path = episode_path(tmp_path, 0)
    path.parent.mkdir(parents=True)
    np.savez_compressed(
        path,
        robot_frames=episode.robot_frames,
        robot_states=episode.robot_states,
        robot_actions=episode.robot_actions,
        human_frames=episode.human_frames,
        human_masks=np.zeros((T, PX, PX - 1), bool),
        variation=np.array("{}"),
    )
    with pytest.raises(DataError, match=r"000000\.npz.*human_masks must be bool"):
        load_episode(path)


def test_meta_batch_shapes_and_dtypes(tmp_path):
    make_dataset(tmp_path, 4)
    batch = next(iter(MetaBatchLoader(DemoDataset(tmp_path), meta_batch=3, seed=1)))
    assert batch.human_frames.shape == (3, T, 3, PX, PX) and batch.human_frames.dtype == torch.uint8
    assert batch.robot_frames.shape == (3, T, 3, PX, PX)
    assert batch.robot_states.shape == (3, T, 4) and batch.robot_states.dtype == torch.float32
    assert batch.robot_actions.shape == (3, T, 4)
    assert len(batch) == 3


def test_meta_batch_frames_are_channels_first_copies_of_the_episode(tmp_path):
    episodes = make_dataset(tmp_path, 2)
    loader = MetaBatchLoader(DemoDataset(tmp_path), meta_batch=2, seed=0)
    batch, order = loader.batch(0), loader.indices(0)
    for slot, index in enumerate(order):
        expected = episodes[index].human_frames.transpose(0, 3, 1, 2)
        np.testing.assert_array_equal(batch.human_frames[slot].numpy(), expected)


def test_loader_is_deterministic_and_resumable(tmp_path):
    make_dataset(tmp_path, 6)
    dataset = DemoDataset(tmp_path)
    straight = MetaBatchLoader(dataset, meta_batch=2, seed=7)
    steps = iter(straight)
    first_five = [next(steps).robot_actions for _ in range(5)]
    resumed = iter(MetaBatchLoader(dataset, meta_batch=2, seed=7, start_step=3))
    assert torch.equal(next(resumed).robot_actions, first_five[3])
    assert torch.equal(next(resumed).robot_actions, first_five[4])
    # an epoch covers every episode once
    epoch = np.concatenate([straight.indices(s) for s in range(3)])
    assert sorted(epoch.tolist()) == list(range(6))


def test_truncated_episode_gives_clear_error(tmp_path):
    make_dataset(tmp_path, 2)
    path = episode_path(tmp_path, 1)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="000001.npz is corrupt or truncated") as caught:
        load_episode(path)
    if Path("/proc/self/fd").is_dir():  # the file is closed, not left to the error's lifetime
        assert caught.value.__cause__ is not None
        open_files = [os.path.realpath(fd) for fd in Path("/proc/self/fd").iterdir()]
        assert str(path.resolve()) not in open_files
    loader = MetaBatchLoader(DemoDataset(tmp_path), meta_batch=2, seed=0)
    with pytest.raises(DataError, match="corrupt"):
        next(iter(loader))


def test_foreign_files_and_directories_are_rejected(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        DemoDataset(tmp_path / "nope")
    (tmp_path / "demo.mp4").write_bytes(b"a video, not a dataset")
    with pytest.raises(DataError, match="demo.mp4 is a file, not a dataset folder"):
        DemoDataset(tmp_path / "demo.mp4")
    (tmp_path / "demo.mp4").unlink()
    with pytest.raises(DataError, match="manifest.json is missing"):
        DemoDataset(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="corrupt"):
        DemoDataset(tmp_path)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(DataError, match="not a daml episode"):
        load_episode(other)


def test_a_manifest_with_unknown_expert_labels_is_refused():
    fields = {"task": "push", "split": "train", "variations": 1, "seed": 0, "image_px": 64,
              "control_hz": 10, "episode_steps": 40}  # fmt: skip
    assert Manifest(**fields).expert_labels == "plan"  # what older manifests are read as
    with pytest.raises(DataError, match="unknown expert_labels 'oracle'"):
        Manifest(**fields, expert_labels="oracle")


def test_atomic_write_onto_a_folder_is_a_data_error_and_writes_nothing(tmp_path):
    folder = tmp_path / "out"
    (folder / "kept.txt").parent.mkdir()
    (folder / "kept.txt").write_text("kept")
    with pytest.raises(DataError, match="out is a folder; give the path of the file to write"):
        write_bytes_atomic(folder, b"data")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["kept.txt", "out"]
    assert (folder / "kept.txt").read_text() == "kept"


def test_invalid_episode_is_not_saved(tmp_path):
    episode = make_episode(np.random.default_rng(0), 0)
    episode.robot_actions = episode.robot_actions[:, :3]
    with pytest.raises(DataError, match="robot_actions"):
        save_episode(episode_path(tmp_path, 0), episode)
    assert not episode_path(tmp_path, 0).exists()


def test_meta_batch_larger_than_dataset_is_a_config_error(tmp_path):
    make_dataset(tmp_path, 2)
    with pytest.raises(ConfigError, match="exceeds"):
        MetaBatchLoader(DemoDataset(tmp_path), meta_batch=3)


@pytest.mark.parametrize(
    ("robot_steps", "human_steps", "message"),
    [
        (0, 0, r"robot_frames must be uint8 \(T, H, W, 3\) with T >= 2"),
        (1, 1, r"robot_frames must be uint8 \(T, H, W, 3\) with T >= 2"),
        (T, 1, "human_frames must be uint8 .* like robot_frames"),
        (T, T + 1, "human_frames must be uint8 .* like robot_frames"),
    ],
)
def test_a_standalone_episode_of_too_few_or_unequal_frames_is_refused(
    tmp_path, robot_steps, human_steps, message
):
    """No manifest checks a lone episode (`daml adapt --episode`): its own check must."""
    episode = make_episode(np.random.default_rng(4), 0)
    path = tmp_path / "lone.npz"
    np.savez_compressed(
        path,
        robot_frames=np.resize(episode.robot_frames, (robot_steps, PX, PX, 3)),
        robot_states=np.resize(episode.robot_states, (robot_steps, 4)),
        robot_actions=np.resize(episode.robot_actions, (robot_steps, 4)),
        human_frames=np.resize(episode.human_frames, (human_steps, PX, PX, 3)),
        variation=np.array("{}"),
    )
    with pytest.raises(DataError, match=rf"lone\.npz: {message}"):
        load_episode(path)
