"""benchmarks/dagger_failures.py: a DAgger collection's failed learner rollouts as one more set."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from daml.checkpoint import Checkpoint, save_checkpoint
from daml.config import MetaConfig, RunConfig
from daml.data import DemoDataset
from daml.dataset_union import DatasetUnion
from daml.errors import DataError
from daml.meta import Learner


@pytest.fixture(scope="module")
def dagger_failures(benchmark_script):
    with benchmark_script("dagger_failures") as module:
        yield module


def test_links_the_failed_rollouts_for_a_union_that_repeats_them(
    dagger_failures, tmp_path, daml_collect, tiny_model_factory, monkeypatch, capsys
):
    model = tiny_model_factory(image_px=32, episode_steps=40, conv_strides=(2, 1))
    driver = tmp_path / "driver.pt"
    params = Learner.create(model, MetaConfig(), seed=0).params
    save_checkpoint(driver, Checkpoint("meta", RunConfig(model=model), params))
    source = tmp_path / "dagger"
    assert daml_collect(source, "--dagger", str(driver), "--seed", "3", variations=3) == 0
    collected = DemoDataset(source)
    failed = [
        p for i, p in enumerate(collected.paths) if not collected[i].variation["policy_success"]
    ]
    assert failed  # an untrained driver fails
    out = tmp_path / "failed"
    monkeypatch.setattr(sys, "argv", ["dagger_failures", str(source), "--out", str(out)])
    dagger_failures.main()
    assert f"{len(failed)} failed rollouts" in capsys.readouterr().out
    linked = DemoDataset(out)
    assert [p.resolve() for p in linked.paths] == [p.resolve() for p in failed]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["variations"] == len(failed) and manifest["seed"] == 999
    assert len(DatasetUnion([source, out])) == 3 + len(failed)  # each failure drawn twice

    plain = tmp_path / "plain"
    assert daml_collect(plain, "--seed", "3", variations=1) == 0
    with pytest.raises(SystemExit, match="is not a DAgger collection"):
        dagger_failures.failed_rollouts(DemoDataset(plain))
    monkeypatch.setattr(sys, "argv", ["dagger_failures", str(source), "--out", str(out)])
    with pytest.raises(SystemExit, match="exists"):
        dagger_failures.main()

    broken = tmp_path / "broken"
    shutil.copytree(source, broken)
    first = DemoDataset(broken).paths[0]
    first.write_bytes(first.read_bytes()[:100])  # truncated
    fresh = tmp_path / "fresh"
    monkeypatch.setattr(sys, "argv", ["dagger_failures", str(broken), "--out", str(fresh)])
    with pytest.raises(DataError, match="is corrupt or truncated"):
        dagger_failures.main()
    assert not fresh.exists()  # nothing written before every source was read
