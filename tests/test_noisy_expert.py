"""benchmarks/noisy_expert.py: one table row per setting, on the same variations and seeds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "noisy_expert.py"


@pytest.fixture(scope="module")
def noisy_expert():
    spec = importlib.util.spec_from_file_location("noisy_expert", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_settings_share_variations_and_the_clean_expert_needs_no_retry(noisy_expert, capsys):
    args = ["--variations", "2", "--noise", "0", "--push-retries", "0", "3"]
    assert noisy_expert.main(args) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| push")]
    assert len(rows) == 2
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    assert [c[2] for c in cells] == ["0", "3"]
    # without noise the expert's push holds, so a retry never starts and both rows agree
    assert cells[0][3] == cells[1][3] == "2/2 (100.0%)" and cells[1][4] == "0"


def test_retries_for_pick_place_are_refused(noisy_expert, capsys):
    with pytest.raises(SystemExit) as exit_info:
        noisy_expert.main(["--task", "pick_place", "--variations", "1", "--push-retries", "1"])
    assert exit_info.value.code == 2
    assert "push_retries is for push" in capsys.readouterr().err
