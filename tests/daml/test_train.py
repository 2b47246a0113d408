"""`daml train` end to end on tiny synthetic data: run files, exact resume, errors, and learning."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace

import pytest
import torch

from daml.checkpoint import load_checkpoint
from daml.cli import main
from daml.config import MetaConfig
from daml.data import DemoDataset
from daml.errors import ConfigError
from daml.meta import ALPHA_PREFIX, PSI_PREFIX, Learner, validation_losses
from daml.meta_batch import MetaBatch
from daml.train import augment_batch, load_run_config, train


def test_cli_run_writes_config_metrics_curve_and_checkpoints(
    train_args, tmp_path, synthetic_data_dirs, config_path, capsys
):
    out = tmp_path / "run"
    assert main(train_args(synthetic_data_dirs, out, config_path, "--steps", "4")) == 0
    assert "trained 4 steps" in capsys.readouterr().out
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "metrics.jsonl", "learning_curve.png", "last.pt", "best.pt"} <= names
    assert {"step_000002.pt", "step_000004.pt"} <= names
    assert not [n for n in names if n.endswith(".tmp") or n.startswith(".")]
    config = load_run_config(out)
    assert config.train.steps == 4
    assert config.model.image_px == 16 and config.model.episode_steps == 8  # from the manifest
    assert config.model.state_std != (1.0, 1.0, 1.0, 1.0)  # standardised from the data
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in records if r["split"] == "train"]
    val = [r for r in records if r["split"] == "val"]
    assert train_steps == [1, 2, 3, 4]
    assert [r["step"] for r in val] == [0, 2, 4]
    assert all({"pre_bc", "post_bc"} <= r.keys() for r in val)
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = load_checkpoint(out / "best.pt", kind="meta")
    assert best.best_val == min(r["post_bc"] for r in val[1:])


def test_resume_two_plus_two_equals_four_straight(
    train_args, tmp_path, synthetic_data_dirs, config_path, capsys
):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(train_args(synthetic_data_dirs, straight, config_path, "--steps", "4")) == 0
    assert main(train_args(synthetic_data_dirs, resumed, config_path, "--steps", "2")) == 0
    resume = train_args(synthetic_data_dirs, resumed, config_path, "--steps", "4", "--resume")
    assert main(resume) == 0
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(resumed / "last.pt")
    assert a.step == b.step == 4
    for name in a.params:
        assert torch.equal(a.params[name], b.params[name]), name
    for index, state in a.optimizer_state["state"].items():
        other = b.optimizer_state["state"][index]
        assert all(torch.equal(state[key], other[key]) for key in state)
    lines = [(straight / "metrics.jsonl").read_text(), (resumed / "metrics.jsonl").read_text()]
    strip = [[_without_timing(line) for line in text.splitlines()] for text in lines]
    assert strip[0] == strip[1]


def _without_timing(line: str) -> dict:
    record = json.loads(line)
    record.pop("tasks_per_s", None)
    return record


def test_fresh_run_into_an_existing_run_dir_exits_2(
    train_args, tmp_path, synthetic_data_dirs, config_path, capsys
):
    out = tmp_path / "run"
    assert main(train_args(synthetic_data_dirs, out, config_path, "--steps", "1")) == 0
    capsys.readouterr()
    assert main(train_args(synthetic_data_dirs, out, config_path, "--steps", "2")) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and err.count("\n") == 1


def test_resume_below_the_runs_step_exits_2_and_keeps_the_run(
    train_args, tmp_path, synthetic_data_dirs, config_path, capsys
):
    out = tmp_path / "run"
    assert main(train_args(synthetic_data_dirs, out, config_path, "--steps", "2")) == 0
    saved = {name: (out / name).read_bytes() for name in ("config.json", "last.pt")}
    capsys.readouterr()
    resume = train_args(synthetic_data_dirs, out, config_path, "--steps", "1", "--resume")
    assert main(resume) == 2
    err = capsys.readouterr().err
    assert "is already at step 2" in err and "--steps 2 or more" in err and err.count("\n") == 1
    assert all((out / name).read_bytes() == data for name, data in saved.items())
    again = train_args(synthetic_data_dirs, out, config_path, "--steps", "2", "--resume")
    assert main(again) == 0  # re-running a finished run's command is a no-op, not an error


def test_a_resume_that_fails_leaves_the_runs_config_as_it_was(
    train_args, tmp_path, synthetic_data_dirs, config_path, capsys
):
    out = tmp_path / "run"
    assert main(train_args(synthetic_data_dirs, out, config_path, "--steps", "2")) == 0
    saved = {name: (out / name).read_bytes() for name in ("config.json", "metrics.jsonl")}
    capsys.readouterr()
    bad_val = {"train": synthetic_data_dirs["train"], "val": tmp_path / "not_data"}
    resume = train_args(bad_val, out, config_path, "--steps", "50", "--resume")
    assert main(resume) == 2
    err = capsys.readouterr().err
    assert "not_data" in err and err.count("\n") == 1
    assert all((out / name).read_bytes() == data for name, data in saved.items())
    assert load_run_config(out).train.steps == 2  # a later plain --resume still stops at 2


def test_resume_without_a_run_and_bad_config_exit_2(tmp_path, synthetic_data_dirs, capsys):
    args = ["train", "--data", str(synthetic_data_dirs["train"]), "--out", str(tmp_path / "x")]
    assert main([*args, "--resume"]) == 2
    assert "not a daml run dir" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"meta": {"inner_stepz": 2}}')
    assert main([*args, "--config", str(bad)]) == 2
    assert "unknown meta config keys ['inner_stepz']" in capsys.readouterr().err


def test_first_order_training_leaves_psi_and_alpha_untouched(
    tmp_path, synthetic_data_dirs, tiny_run_config
):
    config = replace(tiny_run_config, meta=MetaConfig(second_order=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(config, synthetic_data_dirs["train"], tmp_path / "fo", device="cpu", progress=False)
    trained = load_checkpoint(tmp_path / "fo" / "last.pt").params
    initial = Learner.create(config.model, config.meta, config.train.seed).params
    for name, value in trained.items():
        frozen = name.startswith((PSI_PREFIX, ALPHA_PREFIX))
        assert torch.equal(value, initial[name].detach()) == frozen, name


def test_meta_training_makes_adaptation_use_the_human_video(
    trained_synthetic_run, synthetic_data_dirs
):
    """After 400 steps on the two-squares task, adapting on the task's own human video lowers
    the held-out BC loss below the pre-adaptation loss and far below adapting on another
    task's video (which shows the other square about half of the time)."""
    lines = (trained_synthetic_run / "metrics.jsonl").read_text().splitlines()
    val_records = [r for r in map(json.loads, lines) if r["split"] == "val"]
    assert [r["step"] for r in val_records] == [0, 100, 200, 300, 400]
    best = min(val_records, key=lambda r: r["post_bc"])
    assert best["post_bc"] < 0.75 * best["pre_bc"]
    assert best["post_bc"] < 0.3 * val_records[0]["post_bc"]

    checkpoint = load_checkpoint(trained_synthetic_run / "best.pt", kind="meta")
    assert checkpoint.best_val == best["post_bc"] and checkpoint.step == best["step"]
    learner = Learner(checkpoint.config.model, checkpoint.config.meta, checkpoint.params)
    val = DemoDataset(synthetic_data_dirs["val"])
    batch = MetaBatch.from_episodes([val[i] for i in range(len(val))])
    shuffled = replace(batch, human_frames=batch.human_frames.roll(1, dims=0))
    matched = validation_losses(learner.model, learner.params, batch, learner.meta_config)
    mismatched = validation_losses(learner.model, learner.params, shuffled, learner.meta_config)
    assert matched["post_bc"] == pytest.approx(best["post_bc"], rel=1e-4)
    assert matched["post_bc"] < 0.6 * mismatched["post_bc"]


def test_loop_batching_trains_like_vmap(tmp_path, synthetic_data_dirs, tiny_run_config):
    """Same losses step by step. The first step starts from the same params, so its losses
    agree to float precision; later ones get a looser bound, since Adam turns float noise in
    near-zero gradients of either path into lr-sized steps (seen: 1e-4 relative on the inner
    loss at step 3 on an Intel Xeon, within 1e-4 on an AMD EPYC). The exact equivalence of the
    two paths' gradients is tested in float64 in test_meta.py."""
    records = {}
    for batching in ("vmap", "loop"):
        config = replace(
            tiny_run_config, train=replace(tiny_run_config.train, steps=3, batching=batching)
        )
        train(config, synthetic_data_dirs["train"], tmp_path / batching, progress=False)
        lines = (tmp_path / batching / "metrics.jsonl").read_text().splitlines()
        records[batching] = [r for r in map(json.loads, lines) if r["split"] == "train"]
    for vmap_record, loop_record in zip(records["vmap"], records["loop"], strict=True):
        rel = 1e-5 if vmap_record["step"] == 1 else 1e-3
        for key in ("total", "bc", "inner"):
            assert loop_record[key] == pytest.approx(vmap_record[key], rel=rel), key


def test_cosine_schedule_decays_from_outer_lr_to_its_final_fraction(tiny_run_config):
    train_config = replace(
        tiny_run_config.train, steps=100, outer_lr=1e-3, lr_schedule="cosine", final_lr_fraction=0.1
    )
    lrs = [train_config.outer_lr_at(step) for step in range(101)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[100] == pytest.approx(1e-4)
    assert lrs[50] == pytest.approx(5.5e-4)
    assert all(a >= b for a, b in zip(lrs[:-1], lrs[1:], strict=True))
    assert replace(train_config, lr_schedule="constant").outer_lr_at(70) == 1e-3
    late = replace(train_config, lr_decay_start=60)  # constant to step 60, then the half cosine
    assert [late.outer_lr_at(step) for step in (0, 60)] == [pytest.approx(1e-3)] * 2
    assert late.outer_lr_at(80) == pytest.approx(5.5e-4) and late.outer_lr_at(100) == 1e-4
    with pytest.raises(ConfigError, match="lr_decay_start must be in"):
        replace(train_config, lr_decay_start=100)


def test_resume_may_anneal_a_constant_run_but_not_change_the_rest(
    train_args, tmp_path, synthetic_data_dirs, config_path, capsys
):
    out = tmp_path / "run"
    assert main(train_args(synthetic_data_dirs, out, config_path, "--steps", "2")) == 0
    config = json.loads(config_path.read_text())
    config["train"].update(lr_schedule="cosine", lr_decay_start=2, final_lr_fraction=0.5)
    config_path.write_text(json.dumps(config))
    resume = train_args(synthetic_data_dirs, out, config_path, "--steps", "4", "--resume")
    assert main(resume) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    outer_lr = config["train"]["outer_lr"]
    lrs = [r["lr"] for r in records if r["split"] == "train"]
    assert lrs[:2] == [pytest.approx(outer_lr)] * 2  # steps 0, 1: the constant part
    assert lrs[2:] == [pytest.approx(outer_lr), pytest.approx(0.75 * outer_lr)]
    assert load_checkpoint(out / "last.pt").config.train.lr_decay_start == 2
    config["train"]["seed"] += 1
    config_path.write_text(json.dumps(config))
    capsys.readouterr()
    assert main([*resume[:-2], "6", "--resume"]) == 2
    assert "differs from the run's saved config" in capsys.readouterr().err


def test_hue_jitter_changes_training_and_resumes_exactly(
    tmp_path, synthetic_data_dirs, tiny_run_config
):
    """The rotations depend on (seed, step) only: 2 + 2 resumed steps equal 4 straight ones,
    and they do change what the meta-steps see (the inner loss on the human videos)."""
    jitter = replace(tiny_run_config.train, steps=4, human_hue_jitter=1.0)
    config = replace(tiny_run_config, train=jitter)
    data = synthetic_data_dirs["train"]
    train(config, data, tmp_path / "straight", device="cpu", progress=False)
    half = replace(config, train=replace(jitter, steps=2))
    train(half, data, tmp_path / "resumed", device="cpu", progress=False)
    train(config, data, tmp_path / "resumed", resume=True, device="cpu", progress=False)
    plain = replace(tiny_run_config, train=replace(tiny_run_config.train, steps=4))
    train(plain, data, tmp_path / "plain", device="cpu", progress=False)
    a, b = (load_checkpoint(tmp_path / name / "last.pt") for name in ("straight", "resumed"))
    assert all(torch.equal(a.params[name], b.params[name]) for name in a.params)
    inner = {}
    for name in ("straight", "plain"):
        lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        inner[name] = [r["inner"] for r in map(json.loads, lines) if r["split"] == "train"]
    assert inner["straight"][0] != pytest.approx(inner["plain"][0], rel=1e-6)


def test_hue_jitter_robot_turns_both_demos_of_a_task_by_the_same_angle(
    synthetic_data_dirs, tiny_run_config
):
    dataset = DemoDataset(synthetic_data_dirs["train"])
    batch = MetaBatch.from_episodes([dataset[i] for i in range(4)])
    twin = replace(batch, robot_frames=batch.human_frames.clone())  # video == robot frames
    video_only = replace(tiny_run_config.train, human_hue_jitter=1.0)
    both = replace(video_only, hue_jitter_robot=True)
    turned = augment_batch(twin, 3, both)
    assert torch.equal(turned.human_frames, turned.robot_frames)
    assert not torch.equal(turned.human_frames, twin.human_frames)
    assert torch.equal(turned.human_frames, augment_batch(twin, 3, video_only).human_frames)
    assert torch.equal(augment_batch(twin, 3, video_only).robot_frames, twin.robot_frames)
    assert augment_batch(batch, 3, tiny_run_config.train) is batch  # jitter 0: untouched


def test_avatar_hue_jitter_turns_only_the_demonstrator(synthetic_data_dirs, tiny_run_config):
    """Only the masked hand pixels of each human video change; the squares and the robot demo
    keep their colours, and each video gets the angle of its task (fixed by seed and step)."""
    dataset = DemoDataset(synthetic_data_dirs["train"])
    batch = MetaBatch.from_episodes([dataset[i] for i in range(4)])
    avatar = replace(tiny_run_config.train, avatar_hue_jitter=1.0)
    turned = augment_batch(batch, 3, avatar)
    hand = batch.human_masks.unsqueeze(2).expand_as(batch.human_frames)
    assert torch.equal(turned.human_frames[~hand], batch.human_frames[~hand])
    assert not torch.equal(turned.human_frames[hand], batch.human_frames[hand])
    assert torch.equal(turned.robot_frames, batch.robot_frames)
    assert torch.equal(augment_batch(batch, 3, avatar).human_frames, turned.human_frames)
    assert not torch.equal(augment_batch(batch, 4, avatar).human_frames, turned.human_frames)


def test_avatar_hue_jitter_trains_on_masked_data_and_refuses_data_without_masks(
    train_args, tmp_path, synthetic_data_dirs, synthetic_dataset, config_path, capsys
):
    jitter = ("--steps", "2", "--set", "train.avatar_hue_jitter=1.0")
    assert main(train_args(synthetic_data_dirs, tmp_path / "run", config_path, *jitter)) == 0
    trained = load_checkpoint(tmp_path / "run" / "last.pt", kind="meta")
    assert trained.step == 2 and trained.config.train.avatar_hue_jitter == 1.0
    old = {**synthetic_data_dirs, "train": synthetic_dataset(tmp_path / "old", 16, 3, masks=False)}
    capsys.readouterr()
    assert main(train_args(old, tmp_path / "refused", config_path, *jitter)) == 2
    assert "avatar masks" in capsys.readouterr().err
    assert not (tmp_path / "refused" / "last.pt").exists()


def test_set_overrides_the_config_file_and_a_resume_may_change_the_intervals(
    train_args, tmp_path, synthetic_data_dirs, config_path, capsys
):
    """--set changes one field of the file (recorded in config.json); a resume may change when
    the run writes (log, validation, checkpoints) without changing what it computes."""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(train_args(synthetic_data_dirs, straight, config_path, "--steps", "4")) == 0
    every_step = ["--set", "train.checkpoint_every=1", "--set", "train.val_every=1"]
    first_half = train_args(synthetic_data_dirs, resumed, config_path, "--steps", "2", *every_step)
    assert main(first_half) == 0
    saved = load_run_config(resumed)
    assert (saved.train.checkpoint_every, saved.train.val_every) == (1, 1)
    assert {p.name for p in resumed.glob("step_*.pt")} == {"step_000001.pt", "step_000002.pt"}

    args = train_args(synthetic_data_dirs, resumed, resumed / "config.json", "--resume")
    args += ["--steps", "4"]
    capsys.readouterr()
    assert main([*args, "--set", "train.outer_lr=0.5"]) == 2  # changes the math: refused
    assert "differs from the run's saved config" in capsys.readouterr().err
    assert main([*args, "--set", "train.checkpoint_every=4", "--set", "train.val_every=2"]) == 0
    assert load_run_config(resumed).train.checkpoint_every == 4
    assert not (resumed / "step_000003.pt").exists() and (resumed / "step_000004.pt").exists()
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(resumed / "last.pt")
    assert a.step == b.step == 4
    for name in a.params:
        assert torch.equal(a.params[name], b.params[name]), name
    val_steps = [
        json.loads(line)["step"]
        for line in (resumed / "metrics.jsonl").read_text().splitlines()
        if json.loads(line)["split"] == "val"
    ]
    assert val_steps == [0, 1, 2, 4]
    capsys.readouterr()
    assert main([*args, "--set", "train.val_every"]) == 2
    assert "expects SECTION.KEY=VALUE" in capsys.readouterr().err
    assert main([*args, "--set", "model.hidden_sizes=64,64"]) == 2  # would be ignored: refused
    assert "continues the run's model as saved" in capsys.readouterr().err


def test_checkpoints_record_the_data_task_and_a_run_keeps_to_it(
    train_args, tmp_path, synthetic_data_dirs, synthetic_dataset, config_path, capsys
):
    from daml.checkpoint import checkpoint_task

    out = tmp_path / "run"
    assert main(train_args(synthetic_data_dirs, out, config_path, "--steps", "2")) == 0
    for name in ("last.pt", "best.pt", "step_000002.pt"):
        assert checkpoint_task(load_checkpoint(out / name)) == "push", name
    capsys.readouterr()
    pick_place = synthetic_dataset(tmp_path / "pp", 8, seed=3, task="pick_place")
    saved = {p.name: p.read_bytes() for p in out.iterdir()}
    resume = train_args({"train": pick_place}, out, config_path, "--steps", "4", "--resume")
    assert main(resume) == 2
    err = capsys.readouterr().err
    assert "was meta-trained on push, not pick_place" in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == saved
    mixed = {"train": synthetic_data_dirs["train"], "val": pick_place}
    assert main(train_args(mixed, tmp_path / "mixed", config_path, "--steps", "2")) == 2
    err = capsys.readouterr().err
    assert "holds pick_place episodes; the training data is push" in err
    assert not (tmp_path / "mixed").exists()
