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
import json
import os
from pathlib import Path

import numpy as np

from daml.data import EPISODES_DIR, DemoDataset, write_bytes_atomic


def failed_rollouts(root: Path) -> list[Path]:
    """Episode files of a DAgger collection whose learner rollout failed, in index order."""
    dataset = DemoDataset(root)
    if not dataset.manifest.dagger_sha256:
        raise SystemExit(f"{root} is not a DAgger collection (daml collect --dagger)")
    return [path for path in dataset.paths if not _learner_succeeded(path)]


def _learner_succeeded(path: Path) -> bool:
    """The episode's recorded `policy_success`, read without decoding its frames."""
    with np.load(path, allow_pickle=False) as archive:
        return bool(json.loads(str(archive["variation"]))["policy_success"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", help="DAgger dataset directories")
    parser.add_argument("--out", required=True, help="new directory (must not exist)")
    parser.add_argument("--manifest-seed", type=int, default=999)
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists; give a new directory")
    failed = {source: failed_rollouts(Path(source)) for source in args.sources}
    (out / EPISODES_DIR).mkdir(parents=True)
    paths = [path for source in args.sources for path in failed[source]]
    for index, path in enumerate(paths):
        os.symlink(path.resolve(), out / EPISODES_DIR / f"{index:06d}.npz")
    manifest = json.loads((Path(args.sources[0]) / "manifest.json").read_text())
    manifest.update(variations=len(paths), seed=args.manifest_seed)
    write_bytes_atomic(out / "manifest.json", json.dumps(manifest, indent=2).encode())
    counts = ", ".join(f"{source}: {len(found)}" for source, found in failed.items())
    print(f"{out}: {len(paths)} failed rollouts ({counts})")


if __name__ == "__main__":
    main()
