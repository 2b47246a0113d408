"""Do a method's failures gather on some target objects? Per-object success from a bench report.

Reads a `daml bench` report.json run with `--data` (so every episode's variation, and with it
the target object, is on disk) and counts each target object's successes and episodes. Under
the hypothesis that success does not depend on the object, every object's successes are
Binomial(its episodes, the overall rate); the script compares the spread of the per-object
rates with that (a chi-square statistic, its p-value from --samples simulated benchmarks of the
same per-object episode counts) and reports the share of failures held by the worst tenth of
the objects, beside what that share comes to in the simulated benchmarks (the worst tenth always
holds more than a tenth, by selection alone).

    python benchmarks/per_object.py --report docs/bench/report.json \\
        --data 'data/{task}_test1000' --method daml --worst 8
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

import sim
from daml.cli import run_reporting_errors
from daml.commands import count, seed
from daml.data import episode_path, load_episode
from daml.errors import DataError


def read_bench_report(path: Path, method: str) -> dict:
    """A `daml bench` report.json holding results of `method`; one-line DataError if not."""
    if not path.is_file():
        raise DataError(f"report {path} does not exist")
    try:
        report = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: not a readable daml bench report ({error})") from None
    results = report.get("results") if isinstance(report, dict) else None
    if not isinstance(results, dict):
        raise DataError(f"{path}: not a daml bench report (no results)")
    if not isinstance(results.get(method), dict):
        raise DataError(f"{path} has no results of method {method!r}; it has {sorted(results)}")
    return report


def per_object_outcomes(report: dict, task: str, method: str, data: Path) -> dict[int, list[bool]]:
    """{target object id: [success per episode]} of `method` on `task`."""
    cell = report["results"][method][task]
    if "not_run" in cell:
        raise SystemExit(f"{method} did not run on {task}: {cell['not_run']}")
    outcomes: dict[int, list[bool]] = defaultdict(list)
    for episode in cell["episodes"]:
        recorded = load_episode(episode_path(data, episode["variation"])).variation["variation"]
        target = sim.Variation.from_dict(recorded).target_object
        outcomes[target].append(episode["success"])
    return dict(outcomes)


def dispersion(successes: np.ndarray, episodes: np.ndarray) -> float:
    """Chi-square statistic of per-object successes against the pooled rate."""
    rate = successes.sum() / episodes.sum()
    if rate in (0.0, 1.0):
        return 0.0
    expected = episodes * rate
    return float(((successes - expected) ** 2 / (expected * (1 - rate))).sum())


def worst_tenth_failure_share(successes: np.ndarray, episodes: np.ndarray) -> float:
    """Share of all failures held by the tenth of the objects with the lowest success rate."""
    failures = episodes - successes
    if failures.sum() == 0:
        return 0.0
    worst = np.argsort(successes / episodes, kind="stable")[: max(1, len(episodes) // 10)]
    return float(failures[worst].sum() / failures.sum())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", required=True, help="daml bench report.json")
    parser.add_argument("--data", required=True, help="the bench's --data; may hold {task}")
    parser.add_argument("--method", default="daml")
    parser.add_argument("--worst", type=count, default=5, help="list this many worst objects")
    parser.add_argument("--samples", type=count, default=5000, help="simulated benchmarks")
    parser.add_argument("--seed", type=seed, default=0)
    args = parser.parse_args(argv)
    report = read_bench_report(Path(args.report), args.method)
    for task in report["results"][args.method]:
        data = Path(args.data.replace("{task}", task))
        if not data.is_dir():
            raise DataError(f"dataset directory {data} (--data for {task}) does not exist")
    rng = np.random.default_rng(args.seed)
    print(
        "| task | objects | success | dispersion chi2 (dof) | p, success independent of object "
        "| worst tenth's share of failures (simulated) |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |"
    )
    worst_lines = []
    for task in report["results"][args.method]:
        outcomes = per_object_outcomes(
            report, task, args.method, Path(args.data.replace("{task}", task))
        )
        ids = sorted(outcomes)
        successes = np.array([sum(outcomes[i]) for i in ids])
        episodes = np.array([len(outcomes[i]) for i in ids])
        rate = successes.sum() / episodes.sum()
        observed = dispersion(successes, episodes)
        simulated = [rng.binomial(episodes, rate) for _ in range(args.samples)]
        p = np.mean([dispersion(s, episodes) >= observed for s in simulated])
        share = worst_tenth_failure_share(successes, episodes)
        null_share = np.mean([worst_tenth_failure_share(s, episodes) for s in simulated])
        print(
            f"| {task} | {len(ids)} | {successes.sum()}/{episodes.sum()} ({rate:.1%}) | "
            f"{observed:.1f} ({len(ids) - 1}) | {p:.3f} | {share:.0%} ({null_share:.0%}) |"
        )
        order = np.argsort(successes / episodes, kind="stable")[: args.worst]
        worst_lines += [f"{task} object {ids[k]}: {successes[k]}/{episodes[k]}" for k in order]
    print("\nworst objects:\n" + "\n".join(worst_lines))


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("per_object", main))
