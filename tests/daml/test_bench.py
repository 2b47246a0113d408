"""`daml bench`: every method on identical (variation, seed) pairs, the report's structure, the
baselines' policies, and bad inputs. Tiny untrained checkpoints (32 px, the sim's T = 40)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from daml.baselines import METHOD_NAMES, RandomPolicy
from daml.bench import trial_seeds
from daml.bench_report import paired_against_reference
from daml.checkpoint import Checkpoint, save_checkpoint
from daml.cli import main
from daml.commands.bench import episode_counts
from daml.config import MetaConfig, RunConfig
from daml.errors import ConfigError
from daml.meta import Learner
from daml.montage import side_by_side
from daml.video import read_video


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tiny_model_factory) -> dict[str, str]:
    """Untrained DAML, MIL (robot_demo) and plain-BC meta checkpoints for 32 px sim images."""
    model = tiny_model_factory(image_px=32, episode_steps=40, conv_strides=(2, 1))
    root = tmp_path_factory.mktemp("bench_ckpts")
    metas = {
        "daml": MetaConfig(),
        "mil": MetaConfig(inner_source="robot_demo"),
        "bc": MetaConfig(inner_steps=0),
    }
    paths = {}
    for name, meta in metas.items():
        learner = Learner.create(model, meta, seed=0)
        paths[name] = str(root / f"{name}.pt")
        config = RunConfig(model=model, meta=meta)
        save_checkpoint(paths[name], Checkpoint("meta", config, learner.params))
    return paths


def check_report(out, tasks: list[str], episodes: int, bc_runs: bool) -> dict:
    report = json.loads((out / "report.json").read_text())
    assert list(report["methods"]) == list(METHOD_NAMES)
    assert (out / "success_rates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "report.md").read_text()
    for name, method in report["methods"].items():
        assert method["label"] in table
        assert list(report["results"][name]) == tasks
        for task, cell in report["results"][name].items():
            if name == "bc" and not bc_runs:
                assert cell == {"not_run": "no --bc-checkpoint given"}
                assert "| behaviour cloning | " + task + " | not run |" in table
                continue
            low, high = cell["ci95"]
            assert cell["trials"] == episodes and 0 <= cell["successes"] <= episodes
            assert 0.0 <= low <= cell["success_rate"] <= high <= 1.0
            assert cell["seconds"] > 0 and cell["seconds_per_episode"] > 0
            pairs = [[e["variation"], e["seed"]] for e in cell["episodes"]]
            assert pairs == report["settings"]["episodes"][task]  # identical for every method
            assert all(e["steps"] == 40 for e in cell["episodes"])
    ran = set(METHOD_NAMES) - {"daml"} - (set() if bc_runs else {"bc"})
    for task in tasks:
        assert set(report["paired"][task]) == ran  # DAML against every method that ran
        daml = [e["success"] for e in report["results"]["daml"][task]["episodes"]]
        for name, pair in report["paired"][task].items():
            other = [e["success"] for e in report["results"][name][task]["episodes"]]
            assert pair["episodes"] == episodes
            assert pair["only_daml"] == sum(d and not o for d, o in zip(daml, other, strict=True))
            assert pair["only_method"] == sum(o and not d for d, o in zip(daml, other, strict=True))
            assert 0.0 < pair["p"] <= 1.0
    assert "| DAML minus method | only DAML | only method | McNemar p |" in table
    return report


def test_bench_runs_all_methods_on_identical_variations_and_seeds(tmp_path, checkpoints, capsys):
    out = tmp_path / "bench"
    args = [
        "bench", "--checkpoint", checkpoints["daml"], "--mil-checkpoint", checkpoints["mil"],
        "--task", "pick_place", "--episodes", "4", "--trials", "2", "--out", str(out),
        "--videos", "1", "--seed", "3", "--no-progress",
    ]  # fmt: skip
    assert main(args) == 0
    assert "| DAML (ours)" in capsys.readouterr().out
    report = check_report(out, ["pick_place"], episodes=4, bc_runs=False)
    planned = report["settings"]["episodes"]["pick_place"]
    assert [v for v, _ in planned] == [0, 0, 1, 1]
    assert len({seed for _, seed in planned}) == 4  # trials differ in env seed
    assert "MIL checkpoint" in report["methods"]["robot_demo"]["label"]
    videos = sorted((out / "videos" / "pick_place").glob("*/*.mp4"))
    assert [v.parent.name for v in videos] == sorted(set(METHOD_NAMES) - {"bc"})
    clip = read_video(videos[0]).frames
    assert len(clip) == 41 and clip.shape[2] > clip.shape[1]  # human | robot, T + 1 frames


def test_bench_on_a_collected_test_dataset_with_workers(tmp_path, checkpoints, daml_collect):
    data = tmp_path / "push_test"
    assert daml_collect(data, task="push", split="test", variations=1) == 0
    out = tmp_path / "bench"
    args = [
        "bench", "--checkpoint", checkpoints["daml"], "--bc-checkpoint", checkpoints["bc"],
        "--task", "push", "--data", str(data), "--variations", "1", "--trials", "2",
        "--workers", "2", "--out", str(out), "--videos", "0", "--no-progress",
    ]  # fmt: skip
    assert main(args) == 0
    report = check_report(out, ["push"], episodes=2, bc_runs=True)
    assert report["settings"]["sources"]["push"] == str(data)
    assert "DAML checkpoint, BC inner step" in report["methods"]["robot_demo"]["label"]
    assert not (out / "videos").exists()


def test_bench_rejects_checkpoints_in_the_wrong_role(tmp_path, checkpoints, capsys):
    common = ["--task", "push", "--episodes", "1", "--out", str(tmp_path), "--no-progress"]
    wrong = [
        ["--checkpoint", checkpoints["bc"]],
        ["--checkpoint", checkpoints["daml"], "--mil-checkpoint", checkpoints["daml"]],
        ["--checkpoint", checkpoints["daml"], "--bc-checkpoint", checkpoints["mil"]],
    ]
    for flags in wrong:
        assert main(["bench", *flags, *common]) == 2
        err = capsys.readouterr().err
        assert "needs a checkpoint trained with" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--workers", "0"], "--workers must be >= 1"), (["--videos", "-1"], "--videos >= 0")],
)
def test_bad_sizes_are_refused_before_any_variation_is_rendered(
    tmp_path, checkpoints, capsys, monkeypatch, flags, message
):
    def render(*args, **kwargs):
        raise AssertionError("variations were rendered before the arguments were checked")

    monkeypatch.setattr("daml.commands.bench.bench_variations", render)
    out = tmp_path / "bench"
    argv = ["bench", "--checkpoint", checkpoints["daml"], "--task", "push", "--out", str(out)]
    assert main([*argv, "--variations", "1", "--trials", "1", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_episode_counts():
    assert episode_counts(None, None, 4) == (4, 1)
    assert episode_counts(None, 2, 4) == (2, 2)
    assert episode_counts(5, 3, None) == (5, 3)
    assert episode_counts(None, None, None) == (10, 2)
    for bad in [(None, 3, 4), (2, None, 4), (None, None, 0), (0, 1, None)]:
        with pytest.raises(ConfigError):
            episode_counts(*bad)


def test_trial_seeds_keep_eval_seed_first_and_are_deterministic():
    seeds = trial_seeds(12345, 3)
    assert seeds[0] == 12345 and len(set(seeds)) == 3
    assert trial_seeds(12345, 3) == seeds and trial_seeds(12345, 1) == [12345]


def test_random_policy_is_seeded_and_follows_the_action_contract():
    image, state = np.zeros((8, 8, 3), np.uint8), np.zeros(4, np.float32)

    def actions(seed: int) -> np.ndarray:
        policy = RandomPolicy(seed)
        return np.stack([policy.act(image, state) for _ in range(50)])

    first = actions(7)
    assert np.array_equal(first, actions(7)) and not np.array_equal(first, actions(8))
    assert first.dtype == np.float32 and first.shape == (50, 4)
    assert np.abs(first[:, :3]).max() <= 1.0 and set(np.unique(first[:, 3])) == {-1.0, 1.0}


def test_side_by_side_resamples_the_human_clip_and_upscales():
    human = np.zeros((10, 32, 32, 3), np.uint8)
    human[:, :, :, 0] = np.arange(10)[:, None, None]
    robot = np.full((21, 16, 16, 3), 200, np.uint8)
    both = side_by_side(human, robot, min_panel_px=64)
    assert both.shape == (21, 64, 64 + 2 + 64, 3)
    assert both[0, 0, 0, 0] == 0 and both[-1, 0, 0, 0] == 9  # first and last human frames
    assert (both[:, :, -64:] == 200).all()


def test_paired_section_counts_the_episodes_only_one_method_solved():
    def cell(successes):
        return {"episodes": [
            {"variation": i // 2, "trial": i % 2, "success": s} for i, s in enumerate(successes)
        ]}  # fmt: skip

    results = {
        "daml": {"push": cell([True, True, True, False])},
        "robot_demo": {"push": cell([True, False, False, True])},
        "bc": {"push": {"not_run": "no --bc-checkpoint given"}},
    }
    paired = paired_against_reference(results)
    assert paired == {"push": {"robot_demo": {
        "episodes": 4, "only_daml": 2, "only_method": 1, "p": 1.0,
    }}}  # fmt: skip
    results["robot_demo"]["push"]["episodes"].pop()
    with pytest.raises(ValueError, match="different push episodes"):
        paired_against_reference(results)
