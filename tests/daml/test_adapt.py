"""Test-time adaptation: AdaptedPolicy actions, save/load round trip, `daml adapt` end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from daml.adapt import (
    adapt_from_demos,
    adapt_from_frames,
    load_adapted,
    load_learner,
    prepare_frames,
    resample_frames,
)
from daml.checkpoint import load_checkpoint
from daml.cli import main
from daml.data import DemoDataset, episode_path
from daml.errors import DataError


@pytest.fixture(scope="module")
def checkpoint(trained_synthetic_run):
    return trained_synthetic_run / "best.pt"


@pytest.fixture(scope="module")
def val_episodes(synthetic_data_dirs):
    dataset = DemoDataset(synthetic_data_dirs["val"])
    return [dataset[i] for i in range(4)]


def rollout_actions(policy, episode) -> np.ndarray:
    """Actions (T, 4) of `policy` on the episode's robot observations."""
    return np.stack(
        [
            policy.act(img, st)
            for img, st in zip(episode.robot_frames, episode.robot_states, strict=True)
        ]
    )


def test_act_follows_the_action_contract(checkpoint, val_episodes):
    policy = adapt_from_frames(checkpoint, val_episodes[0].human_frames)
    assert policy.image_px == 16 and policy.episode_steps == 8
    assert policy.info["adapt_ms"] > 0 and policy.info["checkpoint"] == str(checkpoint)
    actions = rollout_actions(policy, val_episodes[0])
    assert actions.dtype == np.float32 and actions.shape == (8, 4)
    assert np.abs(actions[:, :3]).max() <= 1.0
    assert set(np.unique(actions[:, 3])) <= {-1.0, 1.0}


def test_adapted_policy_moves_toward_the_demonstrated_square(checkpoint, val_episodes):
    # Direction of the first move agrees with the expert's for most held-out variations.
    agree = 0
    for episode in val_episodes:
        policy = adapt_from_frames(checkpoint, episode.human_frames)
        action = policy.act(episode.robot_frames[0], episode.robot_states[0])
        agree += float(np.dot(action[:2], episode.robot_actions[0, :2])) > 0
    assert agree >= 3


def test_save_and_load_give_identical_actions(tmp_path, checkpoint, val_episodes):
    policy = adapt_from_frames(checkpoint, val_episodes[1].human_frames)
    policy.save(tmp_path / "adapted.pt")
    loaded = load_adapted(tmp_path / "adapted.pt")
    assert loaded.info == policy.info and loaded.config == policy.config
    np.testing.assert_array_equal(
        rollout_actions(policy, val_episodes[2]), rollout_actions(loaded, val_episodes[2])
    )


def test_load_learner_takes_a_loaded_meta_checkpoint_only(tmp_path, checkpoint, val_episodes):
    from_path, config = load_learner(checkpoint)
    from_loaded, same_config = load_learner(load_checkpoint(checkpoint))
    assert config == same_config
    assert all(torch.equal(from_path.params[k], v) for k, v in from_loaded.params.items())
    adapt_from_frames(checkpoint, val_episodes[1].human_frames).save(tmp_path / "adapted.pt")
    wrong_kind = "the loaded checkpoint is an adapted policy .*; expected a meta-trained"
    with pytest.raises(DataError, match=wrong_kind):
        load_learner(load_checkpoint(tmp_path / "adapted.pt"))


def test_different_videos_give_different_policies(checkpoint, val_episodes):
    a = adapt_from_frames(checkpoint, val_episodes[0].human_frames)
    b = adapt_from_frames(checkpoint, val_episodes[1].human_frames)
    assert not np.array_equal(
        rollout_actions(a, val_episodes[3]), rollout_actions(b, val_episodes[3])
    )


def test_longer_and_larger_videos_are_resampled_and_resized(checkpoint, val_episodes):
    frames = val_episodes[0].human_frames
    stretched = np.repeat(frames, 3, axis=0)  # 24 frames of the same clip
    a = adapt_from_frames(checkpoint, frames)
    b = adapt_from_frames(checkpoint, stretched)
    assert resample_frames(stretched, 8).shape == (8, 16, 16, 3)
    big = np.repeat(np.repeat(frames, 3, axis=1), 3, axis=2)  # 48x48
    c = adapt_from_frames(checkpoint, big)
    image = np.repeat(np.repeat(val_episodes[0].robot_frames[0], 3, axis=0), 3, axis=1)
    state = val_episodes[0].robot_states[0]
    for policy in (a, b, c):
        action = policy.act(image, state)
        assert action.shape == (4,) and np.isfinite(action).all()


def test_prepare_frames_centre_crops_then_resizes():
    rng = np.random.default_rng(0)
    square = rng.integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
    wide = np.zeros((1, 16, 24, 3), np.uint8)
    wide[:, :, 4:20] = square
    assert torch.equal(prepare_frames(wide, 16), torch.from_numpy(square).permute(0, 3, 1, 2))
    flat = np.full((2, 30, 40, 3), 200, np.uint8)
    resized = prepare_frames(flat, 16)
    assert resized.shape == (2, 3, 16, 16) and resized.dtype == torch.uint8
    assert (resized == 200).all()


@pytest.mark.parametrize(
    "image, state, message",
    [
        (np.zeros((16, 16, 3), np.float32), np.zeros(4, np.float32), "uint8 RGB"),
        (np.zeros((16, 16), np.uint8), np.zeros(4, np.float32), "uint8 RGB"),
        (np.zeros((16, 16, 3), np.uint8), np.zeros(3, np.float32), "4 finite floats"),
        (np.zeros((16, 16, 3), np.uint8), np.array([0, np.nan, 0, 0], np.float32), "finite"),
    ],
)
def test_act_rejects_bad_inputs(checkpoint, val_episodes, image, state, message):
    policy = adapt_from_frames(checkpoint, val_episodes[0].human_frames)
    with pytest.raises(DataError, match=message):
        policy.act(image, state)


def test_cli_adapt_from_episode(tmp_path, checkpoint, synthetic_data_dirs, capsys):
    episode = episode_path(synthetic_data_dirs["val"], 0)
    out = tmp_path / "adapted.pt"
    assert (
        main(
            ["adapt", "--checkpoint", str(checkpoint), "--episode", str(episode), "--out", str(out)]
        )
        == 0
    )
    assert "adapted" in capsys.readouterr().out
    loaded = load_adapted(out)
    direct = adapt_from_frames(checkpoint, DemoDataset(synthetic_data_dirs["val"])[0].human_frames)
    image, state = np.zeros((16, 16, 3), np.uint8), np.zeros(4, np.float32)
    np.testing.assert_array_equal(loaded.act(image, state), direct.act(image, state))


def test_cli_adapt_from_video(tmp_path, checkpoint, val_episodes, capsys):
    from daml.video import write_video

    big = np.repeat(np.repeat(val_episodes[0].human_frames, 4, axis=1), 4, axis=2)  # 64x64
    video = write_video(tmp_path / "demo.mp4", np.repeat(big, 2, axis=0), fps=10)
    out = tmp_path / "adapted.pt"
    assert (
        main(["adapt", "--checkpoint", str(checkpoint), "--video", str(video), "--out", str(out)])
        == 0
    )
    policy = load_adapted(out)
    assert policy.info["source"] == str(video)
    action = policy.act(val_episodes[0].robot_frames[0], val_episodes[0].robot_states[0])
    assert action.shape == (4,)


def test_several_demos_adapt_to_the_mean_of_their_adapted_weights(checkpoint, val_episodes):
    clips = [episode.human_frames for episode in val_episodes[:3]]
    singles = [adapt_from_frames(checkpoint, clip) for clip in clips]
    one = adapt_from_demos(checkpoint, clips[:1])
    assert all(torch.equal(one.params[k], singles[0].params[k]) for k in one.params)
    assert "demos" not in one.info
    three = adapt_from_demos(checkpoint, clips, source="three takes")
    for name, value in three.params.items():
        mean = sum(single.params[name] for single in singles) / 3
        torch.testing.assert_close(value, mean, rtol=1e-6, atol=1e-7)
    assert three.info["demos"] == 3 and three.info["source"] == "three takes"
    assert any(not torch.equal(three.params[k], one.params[k]) for k in one.params)
    with pytest.raises(DataError, match="one or more human demos"):
        adapt_from_demos(checkpoint, [])
    with pytest.raises(DataError, match=r"got shape \(1, 16, 16, 3\) \(demo 2 of 2\)"):
        adapt_from_demos(checkpoint, [clips[0], clips[1][:1]])


def test_cli_adapt_from_several_videos_averages_them(tmp_path, checkpoint, val_episodes, capsys):
    from daml.video import write_video

    videos = [
        str(write_video(tmp_path / f"take{i}.mp4", val_episodes[i].human_frames, fps=10))
        for i in range(2)
    ]
    out = tmp_path / "adapted.pt"
    args = ["adapt", "--checkpoint", str(checkpoint), "--video", *videos, "--out", str(out)]
    assert main(args) == 0
    assert f"on {videos[0]} + {videos[1]} (2 videos averaged) in" in capsys.readouterr().out
    policy = load_adapted(out)
    assert policy.info["source"] == " + ".join(videos) and policy.info["demos"] == 2
    assert main([*args[:-3], str(tmp_path / "missing.mp4"), "--out", str(out)]) == 2
    assert "missing.mp4: no such file" in capsys.readouterr().err
    assert load_adapted(out).info["demos"] == 2  # the policy already there is kept


def cli_error(capsys, args: list[str]) -> str:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("daml adapt: error:")
    return captured.err


def test_cli_adapt_unreadable_video_exits_2_with_one_line(tmp_path, checkpoint, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x01 this is not a video" * 100)
    out = tmp_path / "adapted.pt"
    err = cli_error(
        capsys, ["adapt", "--checkpoint", str(checkpoint), "--video", str(bad), "--out", str(out)]
    )
    assert "broken.mp4" in err
    missing = tmp_path / "missing.mp4"
    err = cli_error(
        capsys,
        ["adapt", "--checkpoint", str(checkpoint), "--video", str(missing), "--out", str(out)],
    )
    assert "missing.mp4" in err
    assert not out.exists()


def test_cli_adapt_bad_checkpoints_exit_2(tmp_path, checkpoint, synthetic_data_dirs, capsys):
    episode = str(episode_path(synthetic_data_dirs["val"], 0))
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(checkpoint.read_bytes()[:1000])
    err = cli_error(
        capsys,
        [
            "adapt",
            "--checkpoint",
            str(corrupt),
            "--episode",
            episode,
            "--out",
            str(tmp_path / "a.pt"),
        ],
    )
    assert "corrupt" in err
    adapted = tmp_path / "adapted.pt"
    assert (
        main(
            ["adapt", "--checkpoint", str(checkpoint), "--episode", episode, "--out", str(adapted)]
        )
        == 0
    )
    capsys.readouterr()
    err = cli_error(
        capsys,
        [
            "adapt",
            "--checkpoint",
            str(adapted),
            "--episode",
            episode,
            "--out",
            str(tmp_path / "b.pt"),
        ],
    )
    assert "expected a meta-trained checkpoint" in err
    with pytest.raises(DataError, match="expected an adapted policy"):
        load_adapted(checkpoint)
