"""Copy a checkpoint without its training-only state: the file to ship or share.

Examples:
    daml export --checkpoint runs/push_mil/best.pt --out daml/pretrained/push_mil.pt
    daml export --checkpoint runs/pp/step_021500.pt --out pick_place.pt

A checkpoint written during training carries the Adam moments (about twice the weights' size)
so that `daml train --resume` continues exactly; adapting, evaluating and `--init` need only the
weights. The exported file keeps the config, weights, step and best validation loss, and records
the source's file name, SHA-256 and step under `info.exported_from`. It is written atomically,
so exporting over the source itself is safe.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, help="checkpoint to export (runs/NAME/best.pt)"
    )
    parser.add_argument("--out", required=True, help="checkpoint file to write (.pt)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from daml.checkpoint import export_checkpoint

    source = Path(args.checkpoint)
    source_mb = source.stat().st_size / 1e6 if source.is_file() else 0.0
    exported = export_checkpoint(source, args.out)
    out_mb = Path(args.out).stat().st_size / 1e6
    print(
        f"exported {source} ({exported.kind}, step {exported.step}, {source_mb:.2f} MB) -> "
        f"{args.out} ({out_mb:.2f} MB, sha256 {exported.sha256[:12]})"
    )
    return 0
