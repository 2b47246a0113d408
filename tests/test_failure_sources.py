"""benchmarks/failure_sources.py: the nested variance split, and a tiny run whose first video
and arm start are `daml eval`'s sampled case."""

from __future__ import annotations

import json

import numpy as np
import pytest

from daml.cli import main as daml_main

PUSH = "daml/pretrained/push.pt"


@pytest.fixture(scope="module")
def failure_sources(benchmark_script):
    with benchmark_script("failure_sources") as module:
        yield module


def test_the_success_variance_parts_add_up_and_land_where_the_outcomes_differ(failure_sources):
    rng = np.random.default_rng(0)
    mixed = rng.random((7, 3, 4)) < 0.6
    parts = failure_sources.success_variance(mixed)
    assert parts["variations"] + parts["videos"] + parts["starts"] == pytest.approx(parts["total"])
    by_start = np.zeros((5, 3, 4), bool)
    by_start[:, :, ::2] = True  # every adapted policy succeeds from half its starts
    parts = failure_sources.success_variance(by_start)
    assert parts["starts"] == pytest.approx(0.25) and parts["videos"] == parts["variations"] == 0
    by_scene = np.zeros((4, 3, 2), bool)
    by_scene[:2] = True  # two scenes always succeed, two never
    parts = failure_sources.success_variance(by_scene)
    assert parts["variations"] == pytest.approx(0.25) and parts["videos"] == parts["starts"] == 0


def test_the_position_spread_separates_bias_videos_and_starts(failure_sources):
    goal = np.zeros((2, 2))
    final = np.zeros((2, 2, 2, 2))  # (N, V, K, xy)
    final[..., 0] += 0.03  # every rollout 3 cm off in x: a bias only
    spread = failure_sources.position_spread(final, goal)
    assert spread["variation bias"] == pytest.approx(0.03)
    assert spread["videos"] == spread["starts"] == pytest.approx(0)
    final[:, :, 0, 1] += 0.01  # the starts differ by 2 cm in y about each video's mean
    final[:, :, 1, 1] -= 0.01
    spread = failure_sources.position_spread(final, goal)
    assert spread["starts"] == pytest.approx(0.01) and spread["videos"] == pytest.approx(0)


def test_a_tiny_run_reports_and_its_first_cases_are_daml_evals(failure_sources, tmp_path, capsys):
    args = ["--checkpoint", PUSH, "--task", "push", "--variations", "2", "--seed", "11"]
    failure_sources.main([*args, "--videos", "2", "--starts", "2"])
    out = capsys.readouterr().out
    assert "2 push val variations (seed 11), 2 videos x 2 arm starts each" in out
    first = int(out.split("the `daml eval` case): ")[1].split(" of 2")[0])
    report = tmp_path / "eval.json"
    assert daml_main(["eval", *args, "--split", "val", "--out", str(report), "--no-progress"]) == 0
    assert first == json.loads(report.read_text())["successes"]
    assert "of 8 rollouts succeed" in out and "target's final x/y, RMS (cm)" in out


def test_videos_that_differ_in_look_only_keep_video_0s_camera(failure_sources):
    """--vary look: video 1 has video 0's demonstrator seed (start, camera and light jitter)
    and a new look, so the frames differ only where the avatar is; --vary both differs more."""
    import sim
    from daml.commands.eval import sampled_human_demo

    with sim.make_env("push") as env:
        first = sampled_human_demo(sim, env, "push", "val", 11, 0)
        keep = {"look": first["look"], "seed": first["human_seed"]}
        variation = first["variation"]
        by_look = failure_sources._another_video(env, variation, "val", 11, 0, 1, "look", keep)
        by_both = failure_sources._another_video(env, variation, "val", 11, 0, 1, "both", keep)
        by_seed = failure_sources._another_video(env, variation, "val", 11, 0, 1, "seed", keep)
    changed = {
        name: (np.abs(video.astype(int) - first["frames"]).sum(axis=-1) > 30).mean()
        for name, video in (("look", by_look), ("both", by_both), ("seed", by_seed))
    }
    assert 0 < changed["look"] < changed["both"] and 0 < changed["seed"]
