"""The validation protocol that picks shipped models: one-shot success of several checkpoints on
the same validation episodes, with exact McNemar tests of each against the first.

The episode sets are the validation dataset (`--data`, e.g. 48 episodes of `daml collect --split
val --seed 1`) and variations sampled on the fly from the val split with the seeds of `--sampled`
(default 11:150 12:200 13:300 14:400, i.e. 1,098 episodes with the dataset). Every checkpoint sees
the same variations, human videos and arm start poses, so the comparison is paired. Each
(checkpoint, set) runs `daml eval` as its own process, `--workers` at a time, and writes its JSON
report to `OUT/NAME/SET.json`; reports already there are read instead of re-run, so an interrupted
protocol resumes. Never used on the test split: selection happens on validation only.

    python benchmarks/val_protocol.py --task pick_place --data data/pick_place_val \\
        --checkpoint shipped=daml/pretrained/pick_place.pt \\
        --checkpoint grasp=runs/pick_place_grasp/last.pt --workers 2 --out runs/val_pick_place
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from daml.checkpoint import check_task, file_sha256, load_checkpoint
from daml.cli import run_reporting_errors
from daml.commands import count, seed
from daml.data import DemoDataset
from daml.errors import ConfigError
from daml.output_path import check_output_folder
from daml.paired import discordant_counts, exact_mcnemar

DEFAULT_SAMPLED = ("11:150", "12:200", "13:300", "14:400")


@dataclass(frozen=True)
class EpisodeSet:
    """One set of validation episodes: the dataset (seed None) or `count` sampled with `seed`."""

    seed: int | None = None
    count: int = 0

    @property
    def name(self) -> str:
        return "data" if self.seed is None else f"seed{self.seed}x{self.count}"


def eval_argv(task: str, data: str, checkpoint: str, episodes: EpisodeSet, out: Path) -> list[str]:
    """The `daml eval` command line of one (checkpoint, episode set)."""
    argv = ["eval", "--checkpoint", checkpoint, "--out", str(out), "--no-progress"]
    if episodes.seed is None:
        return [*argv, "--data", data]
    sampling = ["--seed", str(episodes.seed), "--variations", str(episodes.count)]
    return [*argv, "--task", task, "--split", "val", *sampling]


def pending_jobs(
    task: str, data: str, named: dict[str, str], sets: list[EpisodeSet], out_dir: Path
) -> list[tuple[list[str], str]]:
    """(daml eval argv, report path) of every (checkpoint, set) without a report in out_dir yet,
    largest sets first so a pool ends evenly; refuses a report made with another checkpoint
    path or other weights at the path (a new model copied over it)."""
    jobs = []
    for name, checkpoint in named.items():
        (out_dir / name).mkdir(parents=True, exist_ok=True)
        digest = file_sha256(checkpoint)  # once per checkpoint, not once per report
        for episodes in sorted(sets, key=lambda e: -e.count):
            out = out_dir / name / f"{episodes.name}.json"
            if not out.is_file():
                jobs.append((eval_argv(task, data, checkpoint, episodes, out), str(out)))
            else:
                _check_report_is_for(read_report(out), out, checkpoint, digest)
    return jobs


def read_report(path: Path) -> dict:
    """A `daml eval` JSON report; a one-line SystemExit naming the file if it is not one."""
    try:
        report = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        message = f"{path}: not a readable daml eval report ({error}); delete it to redo it"
        raise SystemExit(message) from error
    if not isinstance(report, dict) or not isinstance(report.get("episodes"), list):
        raise SystemExit(f"{path}: not a daml eval report (no episode list); delete it to redo it")
    return report


def _check_report_is_for(report: dict, out: Path, checkpoint: str, digest: str) -> None:
    """Refuse a report made with another checkpoint path or other weights at that path: its
    checkpoint_sha256 (`daml eval` records it) must be `digest`, the file's now; a report from
    before that field must be newer than the file."""
    if report.get("checkpoint") != checkpoint:
        raise SystemExit(f"{out} holds another checkpoint's report; use another NAME or --out")
    recorded = report.get("checkpoint_sha256")
    changed = (
        recorded != digest if recorded else out.stat().st_mtime < Path(checkpoint).stat().st_mtime
    )
    if changed:
        raise SystemExit(
            f"{out} was made with other weights than {checkpoint} holds now (a new model at "
            "that path); use another NAME or --out"
        )


def _run_one(job: tuple[list[str], str]) -> tuple[str, int, float]:
    """Run one `daml eval` as its own process, as a user would; (out, exit code, seconds)."""
    argv, out = job
    started = time.perf_counter()
    code = subprocess.run([sys.executable, "-m", "daml", *argv]).returncode
    return out, code, time.perf_counter() - started


def parse_named(values: list[str]) -> dict[str, str]:
    """["NAME=PATH", ...] -> {NAME: PATH}, in order; names must be unique path-safe words."""
    named: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name.replace("_", "").replace("-", "").isalnum() or name in named:
            raise SystemExit(f"--checkpoint {value!r}: give a unique NAME=PATH (NAME: a-z0-9_-)")
        if not Path(path).is_file():
            raise SystemExit(f"--checkpoint {value!r}: {path} does not exist")
        named[name] = path
    return named


def parse_sampled(values: list[str]) -> list[EpisodeSet]:
    """["SEED:COUNT", ...] -> the sampled EpisodeSets; ConfigError (one line) if one is not."""
    sets = []
    for value in values:
        try:
            seed_text, count_text = value.split(":")
            sets.append(EpisodeSet(seed(seed_text), count(count_text)))
        except (ValueError, argparse.ArgumentTypeError) as error:
            detail = f": {error}" if isinstance(error, argparse.ArgumentTypeError) else ""
            raise ConfigError(f"--sampled takes SEED:COUNT pairs, got {value!r}{detail}") from None
    names = [episodes.name for episodes in sets]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"--sampled gives the same set twice: {', '.join(repeated)}")
    return sets


def check_inputs(task: str, data: str, named: dict[str, str]) -> None:
    """ConfigError / DataError (one line) unless --data is a `task` dataset and every checkpoint
    loads and was meta-trained on `task` (where it records its task): checked before any work."""
    manifest = DemoDataset(data).manifest
    if manifest.task != task:
        raise ConfigError(f"--data {data} holds {manifest.task} episodes, not {task}")
    for path in named.values():
        check_task(load_checkpoint(path), task, path)


def successes_by_set(out_dir: Path, names: list[str], sets: list[str]) -> dict:
    """{name: {set: [bool per episode]}} read from the JSON reports."""
    table = {}
    for name in names:
        table[name] = {}
        for set_name in sets:
            report = read_report(out_dir / name / f"{set_name}.json")
            table[name][set_name] = [bool(e["success"]) for e in report["episodes"]]
    return table


def print_table(table: dict, sets: list[str]) -> None:
    names = list(table)
    print("| candidate | " + " | ".join(sets) + " | total |")
    print("| --- |" + " ---: |" * (len(sets) + 1))
    for name in names:
        counts = [sum(table[name][s]) for s in sets]
        trials = sum(len(table[name][s]) for s in sets)
        total = sum(counts)
        cells = " | ".join(str(c) for c in counts)
        print(f"| {name} | {cells} | {total}/{trials} ({total / trials:.1%}) |")
    first = names[0]
    for name in names[1:]:
        a = [x for s in sets for x in table[first][s]]
        b = [x for s in sets for x in table[name][s]]
        only_first, only_second = discordant_counts(a, b)
        p = exact_mcnemar(only_first, only_second)
        print(
            f"{name} vs {first}: discordant {only_second} (only {name}) vs {only_first} "
            f"(only {first}), exact McNemar p = {p:.3g}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, choices=("pick_place", "push"))
    parser.add_argument("--data", required=True, help="validation dataset dir")
    parser.add_argument(
        "--checkpoint", action="append", required=True, help="NAME=PATH; the first is the baseline"
    )
    parser.add_argument(
        "--sampled", nargs="*", default=list(DEFAULT_SAMPLED), help="SEED:COUNT sampled val sets"
    )
    parser.add_argument("--workers", type=count, default=2, help="eval processes at a time")
    parser.add_argument("--out", required=True, help="dir for the per-set JSON reports")
    args = parser.parse_args(argv)
    named = parse_named(args.checkpoint)
    sets = [EpisodeSet(), *parse_sampled(args.sampled)]
    check_inputs(args.task, args.data, named)  # before any work or write
    out_dir = check_output_folder(args.out, "--out")
    jobs = pending_jobs(args.task, args.data, named, sets, out_dir)
    with ThreadPoolExecutor(args.workers) as pool:
        for out, code, seconds in pool.map(_run_one, jobs):
            if code != 0:
                raise SystemExit(f"daml eval for {out} failed with exit code {code}")
            print(f"{out}: {seconds:.0f} s", flush=True)
    names = [episodes.name for episodes in sets]
    print_table(successes_by_set(out_dir, list(named), names), names)


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("val_protocol", main))
