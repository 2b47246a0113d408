"""benchmarks/pool_protocols.py: pooling validation-protocol reports into one paired test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def pool(benchmark_script):
    with benchmark_script("pool_protocols") as module:
        yield module


def write_report(directory: Path, set_name: str, successes: list[bool]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    episodes = [{"name": f"pick_place/val/{i}", "success": s} for i, s in enumerate(successes)]
    (directory / f"{set_name}.json").write_text(json.dumps({"episodes": episodes}))


def test_pools_distinct_episodes_and_counts_a_shared_set_once(pool, tmp_path, capsys):
    a1, a2, b1, b2 = (tmp_path / d for d in ("a1", "a2", "b1", "b2"))
    write_report(a1, "data", [True, False, True])
    write_report(a2, "data", [True, False, True])  # the same set again: counted once
    write_report(a1, "seed11x2", [False, False])
    write_report(a2, "seed15x2", [True, False])
    write_report(b1, "data", [True, True, True])
    write_report(b1, "seed11x2", [True, True])
    write_report(b2, "seed15x2", [True, True])
    write_report(b2, "data", [True, True, True])
    assert pool.main(["--first", str(a1), str(a2), "--second", str(b1), str(b2)]) == 0
    out = capsys.readouterr().out
    # 7 distinct episodes: first 3 successes, second 7; 4 discordant, all for the second
    assert "3 sets, 7 distinct episodes: second 7 (100.0%) vs first 3 (42.9%)" in out
    assert "discordant 4 (only second) vs 0 (only first), exact McNemar p = 0.125" in out
    assert "note:" not in out


def test_a_repeated_set_that_disagrees_is_named_and_taken_from_the_first_dir(pool, tmp_path):
    write_report(tmp_path / "x", "data", [True, False])
    write_report(tmp_path / "y", "data", [True, True])
    outcomes, notes = pool.pooled_outcomes([tmp_path / "x", tmp_path / "y"])
    assert outcomes == {"data": [True, False]}
    assert len(notes) == 1 and "set data differs" in notes[0] and "2 vs 1 successes" in notes[0]


def test_mismatched_sets_and_empty_dirs_are_one_line_errors(pool, tmp_path):
    write_report(tmp_path / "a", "data", [True])
    write_report(tmp_path / "b", "seed11x1", [True])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="cover different sets"):
        pool.main(["--first", str(tmp_path / "a"), "--second", str(tmp_path / "b")])
    with pytest.raises(SystemExit, match="no val_protocol reports"):
        pool.main(["--first", str(tmp_path / "empty"), "--second", str(tmp_path / "b")])
    write_report(tmp_path / "c", "data", [True, False])
    with pytest.raises(SystemExit, match="1 vs 2 episodes"):
        pool.main(["--first", str(tmp_path / "a"), "--second", str(tmp_path / "c")])
