"""`daml collect` end to end on a tiny dataset: round trip, determinism, resume, bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

import sim.experts
from daml.cli import main
from daml.commands.collect import DESCENT_STEPS
from daml.data import DemoDataset, Manifest, episode_path


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory, daml_collect):
    out = tmp_path_factory.mktemp("data") / "push"
    assert daml_collect(out, variations=3) == 0
    return out


def test_collect_writes_manifest_and_valid_episodes(small_dataset):
    dataset = DemoDataset(small_dataset)
    assert len(dataset) == 3
    manifest = json.loads((small_dataset / "manifest.json").read_text())
    assert manifest["task"] == "push" and manifest["split"] == "train"
    assert manifest["image_px"] == 32 and manifest["object_ids"]
    episode = dataset[0]
    steps = manifest["episode_steps"]
    assert episode.robot_frames.shape == (steps, 32, 32, 3)
    assert episode.human_frames.shape == (steps, 32, 32, 3)
    assert episode.robot_actions.shape == (steps, 4)
    assert set(np.unique(episode.robot_actions[:, 3])) <= {-1.0, 1.0}
    assert manifest["human_masks"] is True
    assert episode.human_masks.shape == (steps, 32, 32) and episode.human_masks.any()


def test_extending_a_dataset_without_masks_keeps_its_manifest_honest(
    small_dataset, tmp_path, daml_collect
):
    """An older dataset (no avatar masks) extended by this daml still says it lacks masks."""
    out = tmp_path / "old"
    assert daml_collect(out, variations=1) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["human_masks"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert daml_collect(out, variations=2) == 0
    assert DemoDataset(out).manifest.human_masks is False


def test_collect_is_deterministic_across_worker_counts(small_dataset, tmp_path, daml_collect):
    assert daml_collect(tmp_path / "again", "--workers", "2", variations=2) == 0
    for index in range(2):
        with (
            np.load(episode_path(small_dataset, index)) as a,
            np.load(episode_path(tmp_path / "again", index)) as b,
        ):
            for key in ("robot_frames", "human_frames", "robot_actions"):
                np.testing.assert_array_equal(a[key], b[key])


def test_collect_resumes_after_interruption(small_dataset, tmp_path, daml_collect, capsys):
    out = tmp_path / "resume"
    # a run killed mid-way: the first episode done, a temp file of the second left behind
    assert daml_collect(out, variations=1) == 0
    assert "episode/s" in capsys.readouterr().err  # the progress bar
    (out / "episodes" / ".000001.npz.abc.tmp").write_bytes(b"partial")
    first = episode_path(out, 0).stat().st_mtime_ns
    assert daml_collect(out, "--no-progress", variations=3) == 0
    assert "episode/s" not in capsys.readouterr().err
    assert episode_path(out, 0).stat().st_mtime_ns == first, "finished episodes are kept"
    assert not list((out / "episodes").glob("*.tmp"))
    for index in range(3):
        with (
            np.load(episode_path(small_dataset, index)) as a,
            np.load(episode_path(out, index)) as b,
        ):
            np.testing.assert_array_equal(a["robot_frames"], b["robot_frames"])


def test_corrupt_episode_stops_collect_without_losing_data(
    small_dataset, tmp_path, capsys, daml_collect
):
    out = tmp_path / "corrupt"
    assert daml_collect(out, variations=2) == 0
    path = episode_path(out, 1)
    path.write_bytes(path.read_bytes()[:100])
    good = episode_path(out, 0).read_bytes()
    capsys.readouterr()
    assert daml_collect(out, variations=2) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "000001.npz is corrupt or truncated" in err[0]
    assert "--repair" in err[0]
    assert episode_path(out, 0).read_bytes() == good and path.exists()
    assert daml_collect(out, "--repair", variations=2) == 0
    assert (out / "corrupt" / "000001.npz").exists() and len(DemoDataset(out)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "fly"], "unknown task 'fly'"),
        (["--split", "nope"], "unknown split 'nope'"),
        (["--variations", "0"], "--variations must be in [1, 1000000], got 0"),
        (["--variations", "-3"], "--variations must be in [1, 1000000], got -3"),
        (["--variations", str(2**70)], "--variations must be in [1, 1000000]"),
        (["--workers", "0"], "--workers must be positive"),
        (["--action-noise", "-0.1"], "--action-noise must be in [0, 1]"),
        (["--action-noise", "nan"], "--action-noise must be in [0, 1]"),
        (["--grasp-miss", "1.5"], "--grasp-miss must be in [0, 1]"),
        (["--grasp-miss", "0.5"], "--grasp-miss is for pick_place"),
        (["--descent-steps", "0"], "--descent-steps must be >= 1"),
        (["--descent-steps", "6"], "--descent-steps is for pick_place"),
        (["--push-retries", "-1"], "--push-retries must be >= 0"),
        (["--task", "pick_place", "--push-retries", "2"], "--push-retries is for push"),
        (["--image-px", "7"], "image_px=7 out of range"),
        (["--labels", "replan"], "--labels replan is for pick_place"),
        (["--human-takes", "0"], "--human-takes must be in [1, 1000000], got 0"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, capsys, args, message):
    base = {"--task": "push", "--split": "train", "--variations": "1", "--workers": "1"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["collect", "--out", str(tmp_path / "x")] + [x for kv in base.items() for x in kv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "x").exists()  # nothing made for a run that never started


def test_unwritable_output_is_a_clear_error(tmp_path, capsys, daml_collect):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert daml_collect(blocker / "data", variations=1) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot create output directory" in err[0]


def test_a_folder_that_holds_other_files_is_not_collected_into(tmp_path, capsys, daml_collect):
    (tmp_path / "notes.txt").write_text("mine")
    assert daml_collect(tmp_path, variations=1) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds files but no dataset" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_collect_via_console_script_is_the_same_cli(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "daml", "collect", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--variations" in result.stdout and "--workers" in result.stdout


def test_summary_counts_robot_and_human_failures_separately():
    from daml.commands.collect_folder import Attempts, success_line

    # 3 episodes: one took a failed robot demo first, one a missed human-like demo first.
    line = success_line([Attempts(), Attempts(robot_failures=1), Attempts(human_failures=1)])
    assert "robot expert success: 4/5 (80.0%)" in line
    assert "human-like demo success: 3/4 (75.0%)" in line


def test_dart_collection_is_recorded_and_not_mixed_with_clean_demos(
    small_dataset, tmp_path, capsys, daml_collect
):
    out = tmp_path / "dart"
    assert daml_collect(out, "--action-noise", "0.3", variations=1) == 0
    assert json.loads((out / "manifest.json").read_text())["action_noise"] == 0.3
    with np.load(episode_path(small_dataset, 0)) as clean, np.load(episode_path(out, 0)) as dart:
        assert not np.array_equal(clean["robot_states"], dart["robot_states"])
    capsys.readouterr()
    assert daml_collect(out, variations=2) == 2  # resuming without the noise: refused
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "action_noise=0.3" in err[0]


def test_grasp_miss_collection_records_each_demos_miss_and_recovery(tmp_path, capsys, daml_collect):
    out = tmp_path / "miss"
    assert (
        daml_collect(out, "--grasp-miss", "1", "--seed", "4", task="pick_place", variations=2) == 0
    )
    assert json.loads((out / "manifest.json").read_text())["grasp_miss"] == 1.0
    assert "robot demos that show a recovery: 1/2" in capsys.readouterr().out  # as below
    retried = []
    for episode in DemoDataset(out):
        assert 0.025 <= episode.variation["miss_m"] <= 0.045
        retried.append(episode.variation["retried"])
        closing = episode.robot_actions[:, 3] > 0
        closes = int(np.sum(closing[1:] & ~closing[:-1]))
        assert closes == (2 if episode.variation["retried"] else 1)
    assert retried == [False, True]  # seed 4: one grasp held the target off-centre, one closed
    # on nothing and re-grasped
    capsys.readouterr()
    # resuming without the misses: refused
    assert daml_collect(out, "--seed", "4", task="pick_place", variations=3) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "grasp_miss=1.0" in err[0]


def test_slow_descent_collection_is_recorded_and_not_mixed(tmp_path, capsys, daml_collect):
    out = tmp_path / "slow"
    assert daml_collect(out, "--descent-steps", "6", task="pick_place", variations=1) == 0
    assert json.loads((out / "manifest.json").read_text())["descent_steps"] == 6
    assert DESCENT_STEPS == sim.experts.DESCENT_STEPS  # the CLI's default is the expert's
    # ... and what a manifest written before the field existed is read as
    assert Manifest.__dataclass_fields__["descent_steps"].default == DESCENT_STEPS
    capsys.readouterr()
    assert daml_collect(out, task="pick_place", variations=2) == 2  # resuming at the default
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "descent_steps=6" in err[0]


def test_replanned_labels_are_recorded_and_not_mixed(tmp_path, capsys, daml_collect):
    out = tmp_path / "replan"
    assert daml_collect(out, "--labels", "replan", task="pick_place", variations=1) == 0
    assert json.loads((out / "manifest.json").read_text())["expert_labels"] == "replan"
    assert DemoDataset(out)[0].robot_actions.shape == (40, 4)
    assert Manifest.__dataclass_fields__["expert_labels"].default == "plan"  # older manifests
    capsys.readouterr()
    assert daml_collect(out, task="pick_place", variations=2) == 2  # resuming with the plan's
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "expert_labels=replan" in err[0]


def test_push_retry_collection_is_recorded_and_not_mixed(tmp_path, capsys, daml_collect):
    out = tmp_path / "retry"
    extra = ("--action-noise", "0.3", "--push-retries", "2")
    assert daml_collect(out, *extra, variations=2) == 0
    assert json.loads((out / "manifest.json").read_text())["push_retries"] == 2
    retried = sum(episode.variation["retried"] for episode in DemoDataset(out))
    assert f"robot demos that show a recovery: {retried}/2" in capsys.readouterr().out
    assert Manifest.__dataclass_fields__["push_retries"].default == 0  # older manifests
    for episode in DemoDataset(out):
        assert isinstance(episode.variation["retried"], bool)
    capsys.readouterr()
    assert daml_collect(out, "--action-noise", "0.3", variations=3) == 2  # resuming without
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "push_retries=2" in err[0]


@pytest.fixture(scope="module")
def driver_checkpoint(tmp_path_factory, untrained_checkpoint):
    """A tiny 32 px, 40-step meta checkpoint (untrained: it drives, badly) for --dagger."""
    path = tmp_path_factory.mktemp("driver") / "driver.pt"
    return untrained_checkpoint(path, conv_strides=(2, 1))


def test_dagger_the_learner_drives_and_the_expert_labels(
    tmp_path, capsys, daml_collect, driver_checkpoint
):
    """--dagger: each robot episode is the adapted learner's own rollout (the same frames as
    `daml eval`'s rollout of that policy), labelled with the expert's actions."""
    import sim
    from daml.adapt import adapt_from_frames
    from daml.checkpoint import file_sha256
    from daml.evaluate import rollout

    out = tmp_path / "dagger"
    assert daml_collect(out, "--dagger", str(driver_checkpoint), "--seed", "3") == 0
    assert "--dagger learner success: " in capsys.readouterr().out
    manifest = Manifest.load(out)
    assert manifest.dagger_sha256 == file_sha256(driver_checkpoint)
    episode = DemoDataset(out)[1]
    recorded = episode.variation
    assert recorded["policy_success"] in (True, False)
    variation = sim.Variation.from_dict(recorded["variation"])
    policy = adapt_from_frames(str(driver_checkpoint), episode.human_frames)
    with sim.make_env("push", sim.EnvConfig(image_px=32)) as env:
        success, _, frames, _ = rollout(env, policy, variation, recorded["robot_seed"])
        np.testing.assert_array_equal(np.stack(frames[:40]), episode.robot_frames)
        assert success == recorded["policy_success"]
        expert = sim.robot_demo(env, variation, seed=recorded["robot_seed"])
    np.testing.assert_array_equal(episode.robot_actions[0], expert["actions"][0])
    driven = np.stack(
        [policy.act(f, s) for f, s in zip(frames[:40], episode.robot_states, strict=True)]
    )
    assert not np.array_equal(driven, episode.robot_actions)  # labels, not what was driven

    capsys.readouterr()
    assert daml_collect(out, "--seed", "3", variations=3) == 2  # expert-driven: another one
    err = capsys.readouterr().err
    assert "holds a different collection (dagger_sha256=" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--image-px", "64"], "drives 32px, 40-step episodes; this collection has 64px"),
        (["--task", "pick_place", "--grasp-miss", "0.5"], "--grasp-miss executes a missed grasp"),
    ],
)
def test_dagger_refuses_what_it_cannot_drive(tmp_path, capsys, driver_checkpoint, extra, message):
    argv = ["collect", "--task", "push", "--variations", "1", "--image-px", "32"]
    argv += ["--out", str(tmp_path / "x"), "--dagger", str(driver_checkpoint), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_dagger_refuses_a_driver_of_the_other_task(tmp_path, capsys, untrained_checkpoint):
    driver = untrained_checkpoint(tmp_path / "pp.pt", task="pick_place", conv_strides=(2, 1))
    argv = ["collect", "--task", "push", "--variations", "1", "--image-px", "32"]
    assert main([*argv, "--out", str(tmp_path / "x"), "--dagger", str(driver)]) == 2
    err = capsys.readouterr().err
    assert "was meta-trained on pick_place, not push; pass a push checkpoint as --dagger" in err
    assert err.count("\n") == 1 and not (tmp_path / "x").exists()


def test_dagger_refuses_a_driver_that_changed_after_the_manifest_named_it(driver_checkpoint):
    import sim
    from daml.dagger import _WORKER_LEARNERS, DaggerSource, learner_rollout
    from daml.errors import DataError

    named = DaggerSource.open(driver_checkpoint, "push")
    stale = DaggerSource(named.checkpoint, "0" * 64, named.image_px, named.episode_steps)
    _WORKER_LEARNERS.pop(stale.checkpoint, None)
    variation = sim.sample_variation("push", "train", np.random.default_rng(0))
    frames = np.zeros((40, 32, 32, 3), np.uint8)
    with sim.make_env("push", sim.EnvConfig(image_px=32)) as env:
        with pytest.raises(DataError, match="changed while collecting"):
            learner_rollout(sim, env, variation, 0, frames, stale)


def test_a_broken_dagger_checkpoint_is_one_line_and_nothing_is_created(tmp_path, capsys):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint at all")
    argv = ["collect", "--task", "push", "--variations", "1", "--image-px", "32"]
    for driver in (broken, tmp_path / "missing.pt"):
        assert main([*argv, "--out", str(tmp_path / "x"), "--dagger", str(driver)]) == 2
        err = capsys.readouterr().err
        assert str(driver) in err and err.count("\n") == 1
        assert not (tmp_path / "x").exists()


def test_human_takes_are_the_same_collected_with_the_episode_or_added_later(
    small_dataset, tmp_path, capsys, daml_collect
):
    """Take k >= 1 is drawn from (seed, index, k) alone: adding takes to a collected dataset
    gives the episodes a fresh --human-takes collection has, and leaves the rest untouched."""
    later, at_once = tmp_path / "later", tmp_path / "at_once"
    assert daml_collect(later, "--no-progress", variations=2) == 0
    robot_before = DemoDataset(later)[1].robot_frames
    capsys.readouterr()
    assert daml_collect(later, "--no-progress", "--human-takes", "3", variations=2) == 0
    assert "human takes per episode: 3 (added now: 4 takes to 2 episodes" in capsys.readouterr().out
    assert daml_collect(at_once, "--no-progress", "--human-takes", "3", variations=2) == 0
    a, b = DemoDataset(later), DemoDataset(at_once)
    assert a.manifest.human_takes == b.manifest.human_takes == 3
    for index in range(2):
        first, second = a[index], b[index]
        assert first.human_takes == second.human_takes == 3
        for key in ("human_frames", "extra_human_frames", "extra_human_masks", "robot_frames"):
            np.testing.assert_array_equal(getattr(first, key), getattr(second, key))
        assert first.variation == second.variation
        looks = [first.variation["look"], *(t["look"] for t in first.variation["takes"])]
        assert len({json.dumps(look) for look in looks}) == 3, "each take has its own look"
        assert not np.array_equal(first.human_frames, first.extra_human_frames[0])
        assert first.extra_human_masks.any(axis=(1, 2, 3)).all()
    np.testing.assert_array_equal(a[1].robot_frames, robot_before)
    # the first take is the one-take collection's video
    np.testing.assert_array_equal(a[0].human_frames, DemoDataset(small_dataset)[0].human_frames)


def test_a_dataset_is_not_collected_into_with_fewer_takes(tmp_path, capsys, daml_collect):
    out = tmp_path / "takes"
    assert daml_collect(out, "--human-takes", "2", variations=1) == 0
    capsys.readouterr()
    assert daml_collect(out, variations=2) == 2
    err = capsys.readouterr().err.strip().splitlines()
    expected = f"{out} holds 2 human takes per episode; pass --human-takes 2 (or more) to add to it"
    assert err == [f"daml collect: error: {expected}"]
    assert len(DemoDataset(out)) == 1
