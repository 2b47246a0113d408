"""benchmarks/*.py: bad input is one clear line and a non-zero exit, never a traceback, and
every script's --help description is its docstring's whole first paragraph."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SCRIPTS = sorted(path.stem for path in (ROOT / "benchmarks").glob("*.py"))
PUSH = "daml/pretrained/push.pt"

# (script, arguments, what the last stderr line says); none of them starts any work
BAD_INPUTS = [
    ("adapt_latency", ["--checkpoint", "nope.pt"], "checkpoint nope.pt does not exist"),
    ("adapt_latency", ["--repeats", "0"], "--repeats: must be in [1,"),
    ("dataset_io", ["--data", "nope"], "dataset directory nope does not exist"),
    ("dataset_io", ["--data", "nope", "--episodes", "0"], "--episodes: must be in [1,"),
    ("failure_modes", ["--checkpoint", "nope.pt", "--data", "nope"], "does not exist"),
    ("failure_modes", ["--checkpoint", PUSH, "--data", "x", "--episodes", "0"], "must be in"),
    ("inner_step_saturation", ["--checkpoint", PUSH, "--data", "nope"], "does not exist"),
    ("failure_sources", ["--checkpoint", "nope.pt", "--task", "push"], "nope.pt does not exist"),
    ("failure_sources", ["--checkpoint", PUSH, "--task", "pick_place"], "meta-trained on push"),
    ("meta_throughput", ["--tasks", "4", "0"], "--tasks: must be in [1,"),
    ("meta_throughput", ["--repeats", "0"], "--repeats: must be in [1,"),
    ("sim_speed", ["--variations", "0", "--pairs", "0", "--speed-episodes", "0"], "must be in"),
    ("single_task_bc", ["--steps", "0"], "--steps: must be in [1,"),
    ("per_object", ["--report", "nope.json", "--data", "nope"], "report nope.json does not exist"),
    ("bridge_rate", ["--policy", "nope.pt"], "checkpoint nope.pt does not exist"),
    (
        "video_conditioning",
        ["--data", "x", "--checkpoint", PUSH, "--bc-checkpoint", PUSH, "--episodes", "0"],
        "--episodes: must be in [1,",
    ),
]


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def assert_one_clear_error(result: subprocess.CompletedProcess, name: str, says: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert 1 <= len(lines) <= 8, result.stderr  # one line, or argparse's usage and one line
    assert lines[-1].startswith(name) and says in lines[-1], result.stderr


@pytest.mark.parametrize(("name", "args", "says"), BAD_INPUTS)
def test_bad_input_is_one_line_and_no_traceback(name, args, says):
    assert_one_clear_error(run_script(name, *args), name, says)


def test_val_protocol_checks_its_data_before_any_work_or_write(tmp_path):
    out = tmp_path / "vp"
    result = run_script(
        "val_protocol", "--task", "push", "--data", "nope", "--checkpoint", f"a={PUSH}",
        "--out", str(out),
    )  # fmt: skip
    assert_one_clear_error(result, "val_protocol", "dataset directory nope does not exist")
    assert not out.exists()


def help_description(text: str) -> str:
    """The description part of a --help text: what follows the usage, up to the arguments."""
    sections = text.split("\n\n")[1:]  # [0] is the usage
    kept = []
    for section in sections:
        if section.startswith(("positional arguments:", "options:")):
            break
        kept.append(section)
    return "\n\n".join(kept).strip()


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_describes_the_script_in_whole_sentences(name, benchmark_script, capsys):
    with benchmark_script(name) as module:
        with pytest.raises(SystemExit) as exit_info:
            module.main(["--help"])
        first_paragraph = module.__doc__.split("\n\n")[0]
    assert exit_info.value.code == 0
    described = help_description(capsys.readouterr().out).split("\n\n")[0]
    # the docstring's whole first paragraph, however argparse re-wrapped it
    assert re.sub(r"\s", "", described) == re.sub(r"\s", "", first_paragraph)
    assert described.endswith((".", "?", ")", "]")), described
