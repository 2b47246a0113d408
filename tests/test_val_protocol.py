"""benchmarks/val_protocol.py: the eval commands it runs and the reports it reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from daml.checkpoint import file_sha256


@pytest.fixture(scope="module")
def protocol(benchmark_script):
    with benchmark_script("val_protocol") as module:
        yield module


def test_eval_argv_covers_the_dataset_and_the_sampled_sets(protocol, tmp_path):
    out = tmp_path / "a.json"
    data = protocol.eval_argv("push", "data/push_val", "c.pt", protocol.EpisodeSet(), out)
    assert data[data.index("--data") + 1] == "data/push_val" and "--task" not in data
    sampled = protocol.eval_argv("push", "data/push_val", "c.pt", protocol.EpisodeSet(12, 200), out)
    flags = {flag: sampled[i + 1] for i, flag in enumerate(sampled[:-1]) if flag[:2] == "--"}
    assert flags["--task"] == "push" and flags["--split"] == "val"
    assert flags["--seed"] == "12" and flags["--variations"] == "200"
    assert flags["--checkpoint"] == "c.pt" and flags["--out"] == str(out)
    assert protocol.EpisodeSet().name == "data"
    assert protocol.EpisodeSet(12, 200).name == "seed12x200"


def test_pending_jobs_skips_done_reports_and_refuses_another_checkpoints(protocol, tmp_path):
    sets = [protocol.EpisodeSet(), protocol.EpisodeSet(11, 150), protocol.EpisodeSet(12, 200)]
    checkpoint = tmp_path / "a.pt"
    checkpoint.write_bytes(b"weights")
    jobs = protocol.pending_jobs("push", "d", {"a": str(checkpoint)}, sets, tmp_path)
    names = [Path(out).name for _, out in jobs]
    assert names == ["seed12x200.json", "seed11x150.json", "data.json"]  # largest first
    done = tmp_path / "a" / "data.json"
    done.write_text(json.dumps({"checkpoint": str(checkpoint), "episodes": []}))
    jobs = protocol.pending_jobs("push", "d", {"a": str(checkpoint)}, sets, tmp_path)
    assert "data.json" not in [Path(out).name for _, out in jobs] and len(jobs) == 2
    report = tmp_path / "a" / "seed11x150.json"
    report.write_text('{"checkpoint": "other.pt", "episodes": []}')
    with pytest.raises(SystemExit, match="another checkpoint's report"):
        protocol.pending_jobs("push", "d", {"a": str(checkpoint)}, sets, tmp_path)
    assert report.read_text() == '{"checkpoint": "other.pt", "episodes": []}'  # not overwritten
    report.write_text('{"checkpoint": ')  # hand-edited or cut short: one line, not a traceback
    with pytest.raises(SystemExit, match="seed11x150.json: not a readable daml eval report"):
        protocol.pending_jobs("push", "d", {"a": str(checkpoint)}, sets, tmp_path)
    report.write_text('{"checkpoint": "a.pt"}')  # JSON, but not an eval report
    with pytest.raises(SystemExit, match="seed11x150.json: not a daml eval report"):
        protocol.pending_jobs("push", "d", {"a": str(checkpoint)}, sets, tmp_path)
    report.unlink()
    os.utime(checkpoint, (done.stat().st_mtime + 10,) * 2)  # a new model copied over the path
    with pytest.raises(SystemExit, match="other weights"):  # an unhashed report: by its time
        protocol.pending_jobs("push", "d", {"a": str(checkpoint)}, sets, tmp_path)
    hashed = {
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": file_sha256(checkpoint),
        "episodes": [],
    }
    done.write_text(json.dumps(hashed))
    os.utime(checkpoint, (done.stat().st_mtime + 10,) * 2)  # touched, same bytes: still valid
    assert len(protocol.pending_jobs("push", "d", {"a": str(checkpoint)}, sets, tmp_path)) == 2
    checkpoint.write_bytes(b"other weights")  # a hashed report: by its bytes
    with pytest.raises(SystemExit, match="other weights"):
        protocol.pending_jobs("push", "d", {"a": str(checkpoint)}, sets, tmp_path)
