"""benchmarks/noisy_expert.py: one table row per setting, on the same variations and seeds."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def noisy_expert(benchmark_script):
    with benchmark_script("noisy_expert") as module:
        yield module


def table_rows(out: str, task: str) -> list[list[str]]:
    rows = [line for line in out.splitlines() if line.startswith(f"| {task} |")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_settings_share_variations_and_the_clean_expert_needs_no_retry(noisy_expert, capsys):
    args = ["--variations", "2", "--action-noise", "0", "--push-retries", "0", "3"]
    assert noisy_expert.main(args) == 0
    cells = table_rows(capsys.readouterr().out, "push")
    assert len(cells) == 2
    assert [c[4] for c in cells] == ["0", "3"]
    # without noise the expert's push holds, so a retry never starts and both rows agree
    assert cells[0][5] == cells[1][5] == "2/2 (100.0%)" and cells[1][6] == "0"


def test_pick_place_descents_are_compared_on_the_same_scenes(noisy_expert, capsys):
    args = ["--task", "pick_place", "--variations", "1", "--descent-steps", "2", "6"]
    assert noisy_expert.main(args) == 0
    cells = table_rows(capsys.readouterr().out, "pick_place")
    assert [(c[2], c[3], c[4]) for c in cells] == [("0.2", "2", "0"), ("0.2", "6", "0")]
    assert all(c[5] in ("0/1 (0.0%)", "1/1 (100.0%)") for c in cells)


def test_the_planning_and_replanning_experts_are_compared(noisy_expert, capsys):
    args = ["--task", "pick_place", "--variations", "2", "--action-noise", "0"]
    assert noisy_expert.main([*args, "--descent-steps", "8", "--labels", "plan", "replan"]) == 0
    cells = table_rows(capsys.readouterr().out, "pick_place")
    assert [c[1] for c in cells] == ["plan", "replan"]
    assert [c[5] for c in cells] == ["2/2 (100.0%)"] * 2  # both do the task without noise


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "pick_place", "--push-retries", "1"], "push_retries is for push"),
        (["--task", "push", "--descent-steps", "6"], "descent_steps is for pick_place"),
        (["--action-noise", "-0.1"], "action_noise=-0.1 must be"),
        (["--variations", "0"], "--variations must be >= 1"),
        (["--task", "push", "--labels", "replan"], "labels='replan' is for pick_place"),
    ],
)
def test_bad_settings_are_one_clear_error(noisy_expert, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        noisy_expert.main(["--variations", "1", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
