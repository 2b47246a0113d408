"""The failed learner rollouts of DAgger collections, as one more dataset (to weight them up).

`daml collect --dagger` keeps every rollout of the learner and records in each episode's
variation whether the learner succeeded (`policy_success`). This script links the episodes
whose learner failed, from every directory given, into OUT/episodes (renumbered, symlinks: no
copy) and writes OUT/manifest.json: the first source's, with `variations` set to the count and
`seed` set to --manifest-seed, so that `daml train --data SRC... OUT` accepts the repeat (its
union refuses two directories of the same collection, because repeating episodes is usually a
mistake; here it is the point: each failed rollout is drawn twice as often as the others).

    python benchmarks/dagger_failures.py --out data/push_dagfail \\
        data/push_dagger61 data/push_dagger71 data/push_dagger81
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from daml.cli import run_reporting_errors
from daml.commands import seed
from daml.data import EPISODES_DIR, DemoDataset


def failed_rollouts(dataset: DemoDataset) -> list[Path]:
    """Episode files of a DAgger collection whose learner rollout failed, in index order."""
    if not dataset.manifest.dagger_sha256:
        raise SystemExit(f"{dataset.root} is not a DAgger collection (daml collect --dagger)")
    return [
        path
        for index, path in enumerate(dataset.paths)
        if not dataset[index].variation["policy_success"]
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", help="DAgger dataset directories")
    parser.add_argument("--out", required=True, help="new directory (must not exist)")
    parser.add_argument("--manifest-seed", type=seed, default=999)
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists; give a new directory")
    datasets = [DemoDataset(source) for source in args.sources]
    failed = {dataset.root: failed_rollouts(dataset) for dataset in datasets}
    (out / EPISODES_DIR).mkdir(parents=True)
    paths = [path for found in failed.values() for path in found]
    for index, path in enumerate(paths):
        os.symlink(path.resolve(), out / EPISODES_DIR / f"{index:06d}.npz")
    replace(datasets[0].manifest, variations=len(paths), seed=args.manifest_seed).save(out)
    counts = ", ".join(f"{source}: {len(found)}" for source, found in failed.items())
    print(f"{out}: {len(paths)} failed rollouts ({counts})")


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("dagger_failures", main))
