"""One-shot evaluation: Wilson intervals, rollouts in an injected env, reports, `daml eval`."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest

from daml.adapt import adapt_from_frames, load_learner
from daml.errors import ConfigError
from daml.evaluate import EvalCase, evaluate, rollout, wilson_interval


@pytest.mark.parametrize(
    "successes, trials, low, high",
    [
        (0, 10, 0.0, 0.2775),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (1, 10, 0.0179, 0.4042),
        (38, 48, 0.6574, 0.8827),
    ],
)
def test_wilson_interval_matches_known_values(successes, trials, low, high):
    assert wilson_interval(successes, trials) == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_without_trials_is_uninformative():
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.fixture(scope="module")
def held_out(two_squares):
    """48 fresh two-squares variations (in neither train nor val), with their human videos."""
    return [two_squares.episode(np.random.default_rng([99, i])) for i in range(48)]


@pytest.fixture(scope="module")
def learner(trained_synthetic_run):
    return load_learner(trained_synthetic_run / "best.pt")[0]


def cases_for(episodes, videos_from) -> list[EvalCase]:
    return [
        EvalCase(f"case {i}", episode.variation, videos_from[i].human_frames, reset_seed=i)
        for i, episode in enumerate(episodes)
    ]


def test_adapted_policy_succeeds_with_its_own_video_not_with_another(
    learner, held_out, two_squares
):
    """Closed loop in the two-squares env: the task's own human video must beat another task's
    video (the other square about half the time, and another layout) by a wide margin."""
    adapt_fn = lambda frames: adapt_from_frames(learner, frames)  # noqa: E731
    own = evaluate(two_squares.env, adapt_fn, cases_for(held_out, held_out), progress=False)
    others = held_out[1:] + held_out[:1]
    swapped = evaluate(two_squares.env, adapt_fn, cases_for(held_out, others), progress=False)
    assert own.trials == swapped.trials == 48
    assert own.successes >= swapped.successes + 12
    assert own.successes >= 18  # measured: 24 of 48 (swapped videos: 5)
    report = own.to_dict()
    assert report["success_rate"] == own.successes / 48
    assert report["ci95_low"] < report["success_rate"] < report["ci95_high"]
    assert len(report["episodes"]) == 48 and report["mean_adapt_ms"] > 0


def test_rollout_runs_episode_steps_and_reports_the_final_success(two_squares, held_out):
    episode = held_out[0]

    class Expert:
        def act(self, image, state):
            delta = (
                np.asarray(episode.variation["squares"][episode.variation["target"]]) - state[:2]
            )
            move = np.clip(delta / 0.12, -1, 1)
            return np.array([move[0], move[1], 0.0, 1.0], np.float32)

    class Idle:
        def act(self, image, state):
            return np.zeros(4, np.float32)

    env = two_squares.env()
    success, steps, frames, act_ms = rollout(env, Expert(), episode.variation, reset_seed=0)
    assert success and steps == env.episode_steps and len(frames) == steps + 1
    assert frames[0].shape == (16, 16, 3) and act_ms >= 0
    idle_success, _, _, _ = rollout(env, Idle(), episode.variation, reset_seed=0)
    start = np.random.default_rng(0).uniform(0.1, 0.9, 2)
    target = np.asarray(episode.variation["squares"][episode.variation["target"]])
    assert idle_success == (np.linalg.norm(start - target) < env.SUCCESS_RADIUS)


def test_evaluate_writes_rollout_videos_and_closes_the_env(
    tmp_path, learner, held_out, two_squares
):
    from daml.video import read_video, write_video

    envs = []

    def make_env():
        envs.append(two_squares.env())
        return envs[-1]

    report = evaluate(
        make_env,
        lambda frames: adapt_from_frames(learner, frames),
        cases_for(held_out[:2], held_out[:2]),
        video_dir=tmp_path / "videos",
        video_writer=lambda path, frames: write_video(path, frames, fps=10),
        progress=False,
    )
    assert len(envs) == 1 and envs[0].closed
    videos = sorted((tmp_path / "videos").glob("*.mp4"))
    assert [v.name[:4] for v in videos] == ["0000", "0001"]
    assert [e.video for e in report.episodes] == [str(v) for v in videos]
    assert read_video(videos[0]).frames.shape[0] == 9  # T + 1 observations


def test_evaluate_closes_the_env_when_adaptation_fails(two_squares, held_out):
    envs = []

    def make_env():
        envs.append(two_squares.env())
        return envs[-1]

    def broken_adapt(frames):
        raise ConfigError("no model")

    with pytest.raises(ConfigError):
        evaluate(make_env, broken_adapt, cases_for(held_out[:1], held_out[:1]), progress=False)
    assert envs[0].closed
    with pytest.raises(ConfigError, match="video_writer"):
        evaluate(make_env, broken_adapt, [], video_dir="x", progress=False)


def test_report_is_json_serialisable(learner, held_out, two_squares):
    report = evaluate(
        two_squares.env,
        lambda frames: adapt_from_frames(learner, frames),
        cases_for(held_out[:3], held_out[:3]),
        progress=False,
    )
    again = json.loads(json.dumps(report.to_dict()))
    assert again["trials"] == 3 and set(again["episodes"][0]) >= {"name", "success", "steps"}


@pytest.fixture(scope="module")
def sim_sized_checkpoint(tmp_path_factory, untrained_checkpoint):
    """An untrained meta checkpoint for 32 px sim images and the sim's T = 40 steps."""
    return untrained_checkpoint(tmp_path_factory.mktemp("sim_ckpt") / "untrained.pt")


def read_report(path) -> dict:
    report = json.loads(path.read_text())
    assert report["trials"] == len(report["episodes"])
    assert report["ci95_low"] <= report["success_rate"] <= report["ci95_high"]
    return report


def test_cli_eval_on_variations_sampled_in_the_sim(tmp_path, sim_sized_checkpoint, capsys):
    from daml.cli import main

    out, videos = tmp_path / "eval.json", tmp_path / "videos"
    args = [
        "eval", "--checkpoint", str(sim_sized_checkpoint), "--task", "pick_place",
        "--split", "test", "--variations", "1", "--out", str(out), "--videos", str(videos),
        "--threads", "1", "--no-progress",
    ]  # fmt: skip
    assert main(args) == 0
    assert re.search(r"^success [01]/1 = ", capsys.readouterr().out, re.MULTILINE)
    report = read_report(out)
    episode = report["episodes"][0]
    assert report["trials"] == 1 and episode["steps"] == 40 and episode["name"].startswith("pick")
    assert (videos / episode["video"].split("/")[-1]).is_file()


def test_cli_eval_on_a_collected_dataset(tmp_path, sim_sized_checkpoint, capsys, daml_collect):
    from daml.cli import main

    data = tmp_path / "pick_place_test"
    assert daml_collect(data, task="pick_place", split="test", variations=1) == 0
    args = ["eval", "--checkpoint", str(sim_sized_checkpoint), "--data", str(data)]
    assert main([*args, "--threads", "1", "--no-progress"]) == 0
    report = read_report(sim_sized_checkpoint.parent / "eval_pick_place_test.json")
    assert report["trials"] == 1 and report["episodes"][0]["name"] == "000000.npz"
    digest = hashlib.sha256(sim_sized_checkpoint.read_bytes()).hexdigest()
    assert report["checkpoint_sha256"] == digest  # names the weights, not just the path
    assert main([*args, "--limit", "0"]) == 2
    assert "--limit must be >= 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--task", "push", "--limit", "5"], "--limit is for --data; it does not apply to --task"),
        (["--data", "data/push_test", "--variations", "5"], "--variations is for --task"),
        (["--data", "data/push_test", "--split", "val"], "--split is for --task"),
    ],
)
def test_flags_of_the_other_source_are_refused_not_ignored(tmp_path, capsys, flags, message):
    """`--task push --limit 5` used to run the default 20 variations; now it says why not."""
    from daml.cli import main

    out = tmp_path / "eval.json"
    assert main(["eval", "--checkpoint", str(tmp_path / "c.pt"), *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_sim_cases_draw_the_avatar_look_from_the_given_sampler():
    """SimCases(look=...) renders the human video with that look, drawn from the case's own
    generator; None is sim.sample_look of the split."""
    import sim
    from daml.commands.eval import SimCases

    config = sim.EnvConfig(image_px=32)
    red = sim.AvatarLook(color=(0.9, 0.1, 0.1), shape="box", size=1.0)

    def case(look=None):
        return next(iter(SimCases("push", "test", 1, 5, config, look=look)))

    default = case()
    same = case(lambda rng: sim.sample_look("test", rng))
    chosen = case(lambda rng: red)
    assert np.array_equal(same.human_frames, default.human_frames)
    assert same.variation == default.variation == chosen.variation
    assert chosen.reset_seed == default.reset_seed
    assert not np.array_equal(chosen.human_frames, default.human_frames)
