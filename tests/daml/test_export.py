"""`daml export`: a checkpoint without its Adam state, same weights, with its provenance."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from daml.checkpoint import Checkpoint, file_sha256, load_checkpoint, save_checkpoint
from daml.cli import main
from daml.config import MetaConfig, RunConfig
from daml.meta import Learner, trainable_params


@pytest.fixture
def trained_checkpoint(tmp_path, tiny_model):
    """A meta checkpoint as `daml train` writes it: weights after an Adam step, with the state."""
    learner = Learner.create(tiny_model, MetaConfig(), seed=0)
    optimizer = torch.optim.Adam(trainable_params(learner.params, learner.meta_config))
    sum(v.square().sum() for v in learner.params.values()).backward()
    optimizer.step()
    checkpoint = Checkpoint(
        "meta", RunConfig(model=tiny_model), learner.params, 7, optimizer.state_dict(), 0.25
    )
    path = tmp_path / "runs" / "step_000007.pt"
    path.parent.mkdir()
    save_checkpoint(path, checkpoint)
    return path


def test_export_drops_the_optimizer_state_and_keeps_the_weights(tmp_path, trained_checkpoint):
    out = tmp_path / "shipped.pt"
    assert main(["export", "--checkpoint", str(trained_checkpoint), "--out", str(out)]) == 0
    source, exported = load_checkpoint(trained_checkpoint), load_checkpoint(out, kind="meta")
    assert source.optimizer_state is not None and exported.optimizer_state is None
    assert out.stat().st_size < trained_checkpoint.stat().st_size / 2
    assert exported.config == source.config
    assert (exported.step, exported.best_val) == (7, 0.25)
    assert list(exported.params) == list(source.params)
    assert all(torch.equal(exported.params[k], v) for k, v in source.params.items())
    assert exported.info["exported_from"] == {
        "file": "step_000007.pt",
        "sha256": file_sha256(trained_checkpoint),
        "step": 7,
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "shipped.pt"]


def test_export_over_the_source_and_again_keeps_the_first_provenance(trained_checkpoint):
    original_sha = file_sha256(trained_checkpoint)
    argv = ["export", "--checkpoint", str(trained_checkpoint), "--out", str(trained_checkpoint)]
    assert main(argv) == 0
    assert main(argv) == 0
    exported = load_checkpoint(trained_checkpoint)
    assert exported.optimizer_state is None
    assert exported.info["exported_from"]["sha256"] == original_sha
    assert [p.name for p in trained_checkpoint.parent.iterdir()] == ["step_000007.pt"]


@pytest.mark.parametrize("problem", ["missing", "corrupt", "out-is-folder"])
def test_bad_input_is_one_line_error_and_writes_nothing(
    tmp_path, trained_checkpoint, problem, capsys
):
    source, out = trained_checkpoint, tmp_path / "out.pt"
    if problem == "missing":
        source = tmp_path / "nope.pt"
    elif problem == "corrupt":
        source = tmp_path / "corrupt.pt"
        source.write_bytes(trained_checkpoint.read_bytes()[:1000])
    else:
        out = tmp_path / "runs"
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["export", "--checkpoint", str(source), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("daml export: error:") and error.count("\n") == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def _checkpoint_like(path, source, scale):
    """A checkpoint of the same model as `source` with every param multiplied by `scale`."""
    loaded = load_checkpoint(source)
    params = {k: v * scale for k, v in loaded.params.items()}
    save_checkpoint(path, Checkpoint("meta", loaded.config, params, 3))
    return path


def test_blend_interpolates_every_weight_and_records_both_sources(tmp_path, trained_checkpoint):
    other = _checkpoint_like(tmp_path / "finetune.pt", trained_checkpoint, 3.0)
    out = tmp_path / "blend.pt"
    argv = ["export", "--checkpoint", str(trained_checkpoint), "--out", str(out)]
    assert main([*argv, "--blend", str(other), "--blend-weight", "0.25"]) == 0
    source, blended = load_checkpoint(trained_checkpoint), load_checkpoint(out, kind="meta")
    for name, value in source.params.items():  # 0.75 * p + 0.25 * 3p = 1.5p
        torch.testing.assert_close(blended.params[name], 1.5 * value)
    assert blended.optimizer_state is None and blended.best_val is None
    assert (blended.step, blended.config) == (7, source.config)
    assert blended.info["exported_from"]["sha256"] == file_sha256(trained_checkpoint)
    assert blended.info["blended_with"] == {
        "file": "finetune.pt",
        "sha256": file_sha256(other),
        "step": 3,
        "weight": 0.25,
    }
    assert main([*argv, "--blend", str(other), "--blend-weight", "0"]) == 0
    unchanged = load_checkpoint(out)
    assert all(torch.equal(unchanged.params[k], v) for k, v in source.params.items())


def test_blend_with_several_checkpoints_interpolates_with_their_average(
    tmp_path, trained_checkpoint
):
    first = _checkpoint_like(tmp_path / "step_a.pt", trained_checkpoint, 3.0)
    second = _checkpoint_like(tmp_path / "step_b.pt", trained_checkpoint, 5.0)
    out = tmp_path / "blend.pt"
    argv = ["export", "--checkpoint", str(trained_checkpoint), "--out", str(out)]
    assert main([*argv, "--blend", str(first), str(second), "--blend-weight", "0.5"]) == 0
    source, blended = load_checkpoint(trained_checkpoint), load_checkpoint(out, kind="meta")
    for name, value in source.params.items():  # 0.5 * p + 0.5 * (3p + 5p) / 2 = 2.5p
        torch.testing.assert_close(blended.params[name], 2.5 * value)
    assert blended.info["blended_with"] == {
        "files": [
            {"file": "step_a.pt", "sha256": file_sha256(first), "step": 3},
            {"file": "step_b.pt", "sha256": file_sha256(second), "step": 3},
        ],
        "weight": 0.5,
    }


@pytest.mark.parametrize(
    "problem", ["other-model", "corrupt-blend", "weight-out-of-range", "weight-alone"]
)
def test_bad_blend_is_one_line_error_and_writes_nothing(
    tmp_path, trained_checkpoint, tiny_model, problem, capsys
):
    other = _checkpoint_like(tmp_path / "finetune.pt", trained_checkpoint, 2.0)
    args = ["--blend", str(other), "--blend-weight", "0.5"]
    if problem == "other-model":
        wider = dataclasses.replace(
            tiny_model, hidden_sizes=[h + 1 for h in tiny_model.hidden_sizes]
        )
        learner = Learner.create(wider, MetaConfig(), seed=0)
        save_checkpoint(other, Checkpoint("meta", RunConfig(model=wider), learner.params, 1))
    elif problem == "corrupt-blend":  # the second of two blend files
        good = _checkpoint_like(tmp_path / "good.pt", trained_checkpoint, 2.0)
        other.write_bytes(other.read_bytes()[:1000])
        args = ["--blend", str(good), *args[1:]]
    elif problem == "weight-out-of-range":
        args[-1] = "1.5"
    else:
        args = args[2:]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    out = tmp_path / "blend.pt"
    argv = ["export", "--checkpoint", str(trained_checkpoint), "--out", str(out), *args]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("daml export: error:") and error.count("\n") == 1
    expected = {
        "other-model": "hidden_sizes",
        "corrupt-blend": "finetune.pt",
        "weight-out-of-range": "[0, 1]",
    }
    assert expected.get(problem, "--blend") in error
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
