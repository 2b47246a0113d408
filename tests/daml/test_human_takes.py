"""Episodes with several human videos of one variation: format, validation, and which take a
meta-batch gives (no simulator; `daml collect --human-takes` is in tests/test_collect.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from daml.config import TrainConfig
from daml.data import DemoDataset, Episode, Manifest, load_episode, save_episode
from daml.dataset_union import DatasetUnion
from daml.errors import ConfigError, DataError
from daml.meta_batch import MetaBatchLoader
from tests.dataset_files import save_dataset

T, PX, TAKES = 4, 6, 3


def make_episode(rng: np.random.Generator, takes: int = TAKES, masks: bool = True) -> Episode:
    """An episode whose take k's frames are all k (so a batch says which take it holds)."""
    human = np.stack([np.full((T, PX, PX, 3), k, np.uint8) for k in range(takes)])
    avatar = rng.random((takes, T, PX, PX)) < 0.3
    return Episode(
        robot_frames=rng.integers(0, 256, (T, PX, PX, 3), dtype=np.uint8),
        robot_states=rng.normal(size=(T, 4)).astype(np.float32),
        robot_actions=rng.uniform(-1, 1, (T, 4)).astype(np.float32),
        human_frames=human[0],
        human_masks=avatar[0] if masks else None,
        extra_human_frames=human[1:] if takes > 1 else None,
        extra_human_masks=avatar[1:] if masks and takes > 1 else None,
        variation={"takes": [{"take": k} for k in range(1, takes)]},
    )


def make_dataset(root, count: int, takes: int = TAKES, seed: int = 0) -> list[Episode]:
    manifest = Manifest(
        "push", "train", count, seed, PX, 10.0, T, human_masks=True, human_takes=takes
    )
    rng = np.random.default_rng(0)
    episodes = [make_episode(rng, takes) for _ in range(count)]
    save_dataset(root, manifest, episodes)
    return episodes


def test_takes_round_trip_and_each_take_is_a_one_video_episode(tmp_path):
    episode = make_episode(np.random.default_rng(1))
    save_episode(tmp_path / "e.npz", episode)
    loaded = load_episode(tmp_path / "e.npz")
    assert loaded.human_takes == TAKES
    np.testing.assert_array_equal(loaded.extra_human_frames, episode.extra_human_frames)
    np.testing.assert_array_equal(loaded.extra_human_masks, episode.extra_human_masks)
    for k in range(TAKES):
        take = loaded.take(k)
        assert take.human_takes == 1 and take.extra_human_masks is None
        assert (take.human_frames == k).all()
        np.testing.assert_array_equal(
            take.human_masks, [episode.human_masks, *episode.extra_human_masks][k]
        )
        np.testing.assert_array_equal(take.robot_actions, episode.robot_actions)
    with pytest.raises(IndexError, match="take 3 is out of range for 3"):
        loaded.take(TAKES)
    assert (
        loaded.nbytes
        == sum(a.nbytes for a in (episode.extra_human_frames, episode.extra_human_masks))
        + episode.take(0).nbytes
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"extra_human_frames": np.zeros((2, T + 1, PX, PX, 3), np.uint8)}, "extra_human_frames"),
        ({"extra_human_frames": np.zeros((0, T, PX, PX, 3), np.uint8)}, "extra_human_frames"),
        ({"extra_human_masks": None}, "present exactly when human_masks is"),
        ({"extra_human_masks": np.zeros((2, T, PX, PX), np.uint8)}, "extra_human_masks must be"),
        ({"extra_human_frames": None}, "extra_human_masks without extra_human_frames"),
    ],
)
def test_misshapen_takes_are_refused_before_saving(tmp_path, change, message):
    episode = replace(make_episode(np.random.default_rng(2)), **change)
    with pytest.raises(DataError, match=message):
        save_episode(tmp_path / "e.npz", episode)
    assert not (tmp_path / "e.npz").exists()


def test_the_loader_draws_a_take_per_step_reproducibly(tmp_path):
    make_dataset(tmp_path, 6)
    loader = MetaBatchLoader(DemoDataset(tmp_path), meta_batch=6, seed=3)
    seen = [loader.batch(step).human_frames[:, 0, 0, 0, 0].tolist() for step in range(8)]
    assert seen == [
        MetaBatchLoader(DemoDataset(tmp_path), 6, seed=3)
        .batch(s)
        .human_frames[:, 0, 0, 0, 0]
        .tolist()
        for s in range(8)
    ], "the take at a step depends only on (seed, step)"
    assert {take for batch in seen for take in batch} == set(range(TAKES))
    batch = loader.batch(0)
    for row, take in enumerate(batch.human_frames[:, 0, 0, 0, 0].tolist()):
        episode = DemoDataset(tmp_path)[int(loader.indices(0)[row])]
        masks = [episode.human_masks, *episode.extra_human_masks][take]
        np.testing.assert_array_equal(batch.human_masks[row].numpy(), masks)
    first = MetaBatchLoader(DemoDataset(tmp_path), 6, seed=3, human_takes="first")
    assert all((first.batch(s).human_frames == 0).all() for s in range(4))


def test_one_take_datasets_give_the_batches_they_always_did(tmp_path):
    """No draw is made for one-take episodes: a run's batches do not change."""
    make_dataset(tmp_path, 5, takes=1)
    dataset = DemoDataset(tmp_path)
    for mode in ("random", "first"):
        batch = MetaBatchLoader(dataset, 2, seed=4, human_takes=mode).batch(3)
        expected = [dataset[int(i)] for i in MetaBatchLoader(dataset, 2, seed=4).indices(3)]
        for row, episode in enumerate(expected):
            np.testing.assert_array_equal(
                batch.human_frames[row].numpy(), episode.human_frames.transpose(0, 3, 1, 2)
            )


def test_take_options_are_checked():
    with pytest.raises(ConfigError, match="train.human_takes must be one of random, first"):
        TrainConfig(human_takes="all")
    with pytest.raises(ConfigError, match="human_takes must be one of"):
        MetaBatchLoader([make_episode(np.random.default_rng(0))], 1, human_takes="last")
    with pytest.raises(DataError, match="human_takes=0"):
        Manifest("push", "train", 1, 0, PX, 10.0, T, human_takes=0)


def test_a_union_has_the_fewest_takes_of_its_parts(tmp_path):
    make_dataset(tmp_path / "a", 2, takes=3)
    make_dataset(tmp_path / "b", 2, takes=2, seed=1)
    union = DatasetUnion([tmp_path / "a", tmp_path / "b"])
    assert union.manifest.human_takes == 2
    assert [union[i].human_takes for i in range(4)] == [3, 3, 2, 2]


def test_an_episode_file_with_misshapen_takes_is_a_clear_error_naming_it(tmp_path):
    """Written by something other than daml (np.savez), read back through load_episode."""
    episode = make_episode(np.random.default_rng(3))
    arrays = {
        key: getattr(episode, key)
        for key in ("robot_frames", "robot_states", "robot_actions", "human_frames", "human_masks")
    }
    path = tmp_path / "000000.npz"
    np.savez(
        path,
        **arrays,
        extra_human_frames=episode.extra_human_frames[:, :-1],
        extra_human_masks=episode.extra_human_masks[:, :-1],
        variation=np.array("{}"),
    )
    with pytest.raises(DataError, match=f"{path}: extra_human_frames must be uint8"):
        load_episode(path)
    assert path.exists(), "nothing is deleted by a failed read"
