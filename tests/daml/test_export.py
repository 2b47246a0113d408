"""`daml export`: a checkpoint without its Adam state, same weights, with its provenance."""

from __future__ import annotations

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
