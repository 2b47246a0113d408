"""`daml train --init`: a new run from a meta checkpoint's weights, grown, widened, on a finer
camera or with other strides (tiny synthetic data)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from daml.checkpoint import load_checkpoint
from daml.cli import main
from daml.widen_encoder import widen_encoder


def test_init_starts_a_new_run_from_a_checkpoints_weights(
    train_args, tmp_path, synthetic_data_dirs, config_path, capsys
):
    source, warm = tmp_path / "source", tmp_path / "warm"
    assert main(train_args(synthetic_data_dirs, source, config_path, "--steps", "2")) == 0
    config = json.loads(config_path.read_text())
    config["train"].update(lr_schedule="cosine", outer_lr=1e-9, checkpoint_every=1)
    config_path.write_text(json.dumps(config))
    init = ["--init", str(source / "last.pt"), "--steps", "1"]
    assert main(train_args(synthetic_data_dirs, warm, config_path, *init)) == 0
    before, after = load_checkpoint(source / "last.pt"), load_checkpoint(warm / "last.pt")
    assert after.step == 1 and after.config.model == before.config.model
    assert after.config.train.init_checkpoint == str(source / "last.pt")
    for name, value in before.params.items():  # one step at lr 1e-9 barely moves them
        assert torch.allclose(after.params[name], value, atol=1e-6), name
    records = [json.loads(line) for line in (warm / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in records if r["split"] == "train"] == [pytest.approx(1e-9)]
    capsys.readouterr()
    both = train_args(synthetic_data_dirs, warm, config_path, *init, "--resume")
    assert main(both) == 2
    assert "pass only one" in capsys.readouterr().err
    missing = ["--init", str(tmp_path / "nope.pt")]
    assert main(train_args(synthetic_data_dirs, tmp_path / "x", config_path, *missing)) == 2
    err = capsys.readouterr().err
    assert "nope.pt" in err and err.count("\n") == 1


def test_init_hidden_sizes_grows_the_init_checkpoint(
    train_args, tmp_path, synthetic_data_dirs, config_path, tiny_run_config, capsys
):
    source, grown = tmp_path / "source", tmp_path / "grown"
    assert main(train_args(synthetic_data_dirs, source, config_path, "--steps", "2")) == 0
    raw = json.loads(config_path.read_text())
    widths = [*tiny_run_config.model.hidden_sizes[:-1], 48, tiny_run_config.model.hidden_sizes[-1]]
    raw["train"]["init_hidden_sizes"] = widths
    config_path.write_text(json.dumps(raw))
    init = ["--init", str(source / "last.pt"), "--steps", "2"]
    assert main(train_args(synthetic_data_dirs, grown, config_path, *init)) == 0
    checkpoint = load_checkpoint(grown / "last.pt", kind="meta")
    assert checkpoint.config.model.hidden_sizes == tuple(widths)
    records = [json.loads(line) for line in (grown / "metrics.jsonl").read_text().splitlines()]
    source_records = [
        json.loads(line) for line in (source / "metrics.jsonl").read_text().splitlines()
    ]
    step0 = next(r for r in records if r["split"] == "val" and r["step"] == 0)
    source_last = [r for r in source_records if r["split"] == "val"][-1]
    assert step0["pre_bc"] == pytest.approx(source_last["pre_bc"], rel=1e-5)  # same function
    resume = train_args(synthetic_data_dirs, grown, grown / "config.json", "--resume")
    assert main([*resume, "--steps", "3"]) == 0  # the saved config: the grown model resumes
    assert load_checkpoint(grown / "last.pt", kind="meta").step == 3
    capsys.readouterr()
    no_init = train_args(synthetic_data_dirs, tmp_path / "no_init", config_path, "--steps", "2")
    assert main(no_init) == 2
    assert "pass --init" in capsys.readouterr().err


def test_init_conv_channels_widens_the_init_checkpoints_encoder(
    train_args, tmp_path, synthetic_data_dirs, config_path, tiny_run_config, capsys
):
    source, wide = tmp_path / "source", tmp_path / "wide"
    assert main(train_args(synthetic_data_dirs, source, config_path, "--steps", "2")) == 0
    widths = [2 * c for c in tiny_run_config.model.conv_channels]
    raw = json.loads(config_path.read_text())
    raw["train"]["init_conv_channels"] = widths
    config_path.write_text(json.dumps(raw))
    init = ["--init", str(source / "last.pt"), "--steps", "2"]
    assert main(train_args(synthetic_data_dirs, wide, config_path, *init)) == 0
    assert load_checkpoint(wide / "last.pt", kind="meta").config.model.conv_channels == tuple(
        widths
    )
    records = [json.loads(line) for line in (wide / "metrics.jsonl").read_text().splitlines()]
    source_records = [
        json.loads(line) for line in (source / "metrics.jsonl").read_text().splitlines()
    ]
    step0 = next(r for r in records if r["split"] == "val" and r["step"] == 0)
    source_last = [r for r in source_records if r["split"] == "val"][-1]
    assert step0["pre_bc"] == pytest.approx(source_last["pre_bc"], rel=0.05)  # copies + noise
    assert step0["post_bc"] == pytest.approx(source_last["post_bc"], rel=0.05)  # adapted too
    start, source_params = (
        load_checkpoint(wide / "step_000000.pt"),
        load_checkpoint(source / "last.pt"),
    )
    expected, model = widen_encoder(
        source_params.params, source_params.config.model, tuple(widths), start.config.train.seed
    )
    assert start.step == 0 and start.config.model == model
    assert model.conv_copies == (2,) * len(widths)
    assert all(torch.equal(start.params[k], v) for k, v in expected.items())  # what it started at
    resume = train_args(synthetic_data_dirs, wide, wide / "config.json", "--resume")
    assert main([*resume, "--steps", "3"]) == 0  # the saved config: the wide model resumes
    capsys.readouterr()
    raw["train"]["init_conv_channels"] = [c + 1 for c in widths]
    config_path.write_text(json.dumps(raw))
    assert main(train_args(synthetic_data_dirs, tmp_path / "odd", config_path, *init)) == 2
    [error] = capsys.readouterr().err.strip().splitlines()
    assert "whole multiple" in error
    no_init = train_args(synthetic_data_dirs, tmp_path / "no_init", config_path, "--steps", "2")
    assert main(no_init) == 2
    assert "pass --init" in capsys.readouterr().err


def test_init_image_px_fine_tunes_the_init_checkpoint_on_a_finer_camera(
    train_args,
    tmp_path,
    synthetic_data_dirs,
    synthetic_dataset,
    config_path,
    tiny_run_config,
    capsys,
):
    source = tmp_path / "source"
    assert main(train_args(synthetic_data_dirs, source, config_path, "--steps", "2")) == 0
    side = 2 * tiny_run_config.model.image_px
    finer = {
        "train": synthetic_dataset(tmp_path / "train2x", 16, seed=1, image_px=side),
        "val": synthetic_dataset(tmp_path / "val2x", 8, seed=2, split="val", image_px=side),
    }
    init = ["--init", str(source / "last.pt"), "--steps", "2"]
    capsys.readouterr()
    assert main(train_args(finer, tmp_path / "refused", config_path, *init)) == 2
    [error] = capsys.readouterr().err.strip().splitlines()
    assert f"image_px={side}" in error and f"set train.init_image_px to {side}" in error
    raw = json.loads(config_path.read_text())
    raw["train"]["init_image_px"] = side
    config_path.write_text(json.dumps(raw))
    assert main(train_args(finer, tmp_path / "finer", config_path, *init)) == 0
    tuned = load_checkpoint(tmp_path / "finer" / "last.pt", kind="meta")
    original = load_checkpoint(source / "last.pt", kind="meta")
    assert tuned.config.model == replace(original.config.model, image_px=side)
    assert {k: v.shape for k, v in tuned.params.items()} == {
        k: v.shape for k, v in original.params.items()
    }
    assert any(not torch.equal(tuned.params[k], original.params[k]) for k in tuned.params)
    assert main(train_args(finer, tmp_path / "no_init", config_path, "--steps", "2")) == 2
    assert "train.init_image_px changes the model" in capsys.readouterr().err
    saved = tmp_path / "finer" / "config.json"
    coarse_resume = train_args(synthetic_data_dirs, tmp_path / "finer", saved, "--resume")
    assert main([*coarse_resume, "--steps", "3"]) == 2  # a resumed model's image size is fixed
    [error] = capsys.readouterr().err.strip().splitlines()
    assert f"expects image_px={side}" in error and "init_image_px" not in error


def test_init_conv_strides_fine_tunes_the_init_checkpoint_with_other_strides(
    train_args, tmp_path, synthetic_data_dirs, config_path, tiny_run_config, capsys
):
    source = tmp_path / "source"
    assert main(train_args(synthetic_data_dirs, source, config_path, "--steps", "2")) == 0
    original = load_checkpoint(source / "last.pt", kind="meta")
    strides = [2, *original.config.model.conv_strides[1:]]
    raw = json.loads(config_path.read_text())
    raw["train"]["init_conv_strides"] = strides
    config_path.write_text(json.dumps(raw))
    init = ["--init", str(source / "last.pt"), "--steps", "2"]
    assert main(train_args(synthetic_data_dirs, tmp_path / "strided", config_path, *init)) == 0
    tuned = load_checkpoint(tmp_path / "strided" / "last.pt", kind="meta")
    assert tuned.config.model == replace(original.config.model, conv_strides=tuple(strides))
    assert {k: v.shape for k, v in tuned.params.items()} == {
        k: v.shape for k, v in original.params.items()
    }
    raw["train"]["init_conv_dilations"] = dilations = [1] * (len(strides) - 1) + [2]
    config_path.write_text(json.dumps(raw))
    assert main(train_args(synthetic_data_dirs, tmp_path / "dilated", config_path, *init)) == 0
    dilated = load_checkpoint(tmp_path / "dilated" / "last.pt", kind="meta").config.model
    assert dilated == replace(
        original.config.model, conv_strides=tuple(strides), conv_dilations=tuple(dilations)
    )
    capsys.readouterr()
    for key, value, message in [
        ("init_conv_strides", [*strides, 1], "one stride per conv layer"),
        ("init_conv_dilations", [*dilations, 1], "one dilation per conv layer"),
    ]:
        bad = {**raw, "train": {**raw["train"], key: value}}
        config_path.write_text(json.dumps(bad))
        assert main(train_args(synthetic_data_dirs, tmp_path / key, config_path, *init)) == 2
        [error] = capsys.readouterr().err.strip().splitlines()
        assert message in error
