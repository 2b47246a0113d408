"""Pool two candidates' validation-protocol reports across runs into one paired comparison.

A pick is first made on one `benchmarks/val_protocol.py` run and then checked on fresh episodes
(`--sampled` with new seeds) in another; both runs add the 48 val data episodes. This script
reads each candidate's per-set reports from every directory given (`OUT/NAME` of each run),
counts every episode set once (a set in several directories is taken from the first, and the
script says when a repeat disagrees), and prints both candidates' successes on the distinct
episodes with the exact McNemar test. The two candidates must cover the same sets.

    python benchmarks/pool_protocols.py \\
        --first runs/val_pp25/slow6 runs/val_pp25b/shipped \\
        --second runs/val_pp25/avg1500 runs/val_pp25b/avg1500
"""

from __future__ import annotations

import argparse
from pathlib import Path

from val_protocol import read_report

from daml.cli import run_reporting_errors
from daml.paired import discordant_counts, exact_mcnemar


def pooled_outcomes(dirs: list[Path]) -> tuple[dict[str, list[bool]], list[str]]:
    """({set name: [success per episode]}, notes on repeated sets that disagree) over `dirs`."""
    outcomes: dict[str, list[bool]] = {}
    source: dict[str, Path] = {}
    notes = []
    for directory in dirs:
        if not directory.is_dir():
            raise SystemExit(f"{directory} does not exist (a val_protocol OUT/NAME directory)")
        reports = sorted(directory.glob("*.json"))
        if not reports:
            raise SystemExit(f"{directory}: no val_protocol reports (*.json) there")
        for path in reports:
            successes = [bool(e["success"]) for e in read_report(path)["episodes"]]
            if path.stem not in outcomes:
                outcomes[path.stem], source[path.stem] = successes, directory
            elif successes != outcomes[path.stem]:
                notes.append(
                    f"note: set {path.stem} differs between {source[path.stem]} and {directory}"
                    f" ({sum(successes)} vs {sum(outcomes[path.stem])} successes); counted from"
                    f" {source[path.stem]}"
                )
    return outcomes, notes


def paired_counts(
    first: dict[str, list[bool]], second: dict[str, list[bool]]
) -> tuple[int, int, int, int, int]:
    """(episodes, first's successes, second's, only first, only second) over shared sets."""
    if sorted(first) != sorted(second):
        raise SystemExit(
            f"the candidates cover different sets: {sorted(first)} vs {sorted(second)}"
        )
    a, b = [], []
    for name in sorted(first):
        if len(first[name]) != len(second[name]):
            raise SystemExit(
                f"set {name}: {len(first[name])} vs {len(second[name])} episodes; not the same set"
            )
        a += first[name]
        b += second[name]
    return len(a), sum(a), sum(b), *discordant_counts(a, b)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--first", nargs="+", required=True, type=Path, help="baseline's dirs")
    parser.add_argument("--second", nargs="+", required=True, type=Path, help="candidate's dirs")
    args = parser.parse_args(argv)
    first, first_notes = pooled_outcomes(args.first)
    second, second_notes = pooled_outcomes(args.second)
    for note in first_notes + second_notes:
        print(note)
    n, first_ok, second_ok, only_first, only_second = paired_counts(first, second)
    if n == 0:
        raise SystemExit(f"the reports of {len(first)} sets hold no episodes; nothing to compare")
    p = exact_mcnemar(only_first, only_second)
    print(
        f"{len(first)} sets, {n} distinct episodes: second {second_ok} ({second_ok / n:.1%}) vs"
        f" first {first_ok} ({first_ok / n:.1%}); discordant {only_second} (only second) vs"
        f" {only_first} (only first), exact McNemar p = {p:.3g}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("pool_protocols", main))
