"""Copy a checkpoint without its training-only state: the file to ship or share.

Examples:
    daml export --checkpoint runs/push_mil/best.pt --out daml/pretrained/push_mil.pt
    daml export --checkpoint runs/pp/step_021500.pt --out pick_place.pt
    daml export --checkpoint daml/pretrained/push.pt --blend runs/push_ft/last.pt \\
        --blend-weight 0.3 --out runs/push_blend.pt
    daml export --checkpoint runs/pp/step_005000.pt \\
        --blend runs/pp/step_005000.pt runs/pp/step_005250.pt runs/pp/step_005500.pt \\
        --blend-weight 1 --out runs/pp_swa.pt

A checkpoint written during training carries the Adam moments (about twice the weights' size)
so that `daml train --resume` continues exactly; adapting, evaluating and `--init` need only the
weights. The exported file keeps the config, weights, step and best validation loss, and records
the source's file name, SHA-256 and step under `info.exported_from`. It is written atomically,
so exporting over the source itself is safe.

--blend writes (1 - w) * CHECKPOINT + w * BLEND for every weight (w = --blend-weight): weight
interpolation between a model and a fine-tune of it (WiSE-FT, Wortsman et al., 2022), which can
keep what each does well. Both must be checkpoints of the same model; the blend is recorded under
`info.blended_with`. Given several files, --blend interpolates with their uniform average
(e.g. the last checkpoints of one fine-tune: a weight average along its trajectory, as in SWA,
Izmailov et al., 2018). Pick the weight on validation (benchmarks/val_protocol.py), never on test.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, help="checkpoint to export (runs/NAME/best.pt)"
    )
    parser.add_argument("--out", required=True, help="checkpoint file to write (.pt)")
    parser.add_argument(
        "--blend",
        nargs="+",
        metavar="CKPT",
        help="checkpoint(s) of the same model to interpolate the weights with (several: their "
        "average)",
    )
    parser.add_argument(
        "--blend-weight",
        type=float,
        help="w in (1 - w) * CHECKPOINT + w * BLEND (default 0.5; needs --blend)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from daml.checkpoint import DEFAULT_BLEND_WEIGHT, export_checkpoint
    from daml.errors import ConfigError
    from daml.output_path import check_output_file

    if args.blend_weight is not None and not args.blend:
        raise ConfigError("--blend-weight needs --blend (the checkpoint to interpolate with)")
    weight = DEFAULT_BLEND_WEIGHT if args.blend_weight is None else args.blend_weight
    check_output_file(args.out)
    source = Path(args.checkpoint)
    source_mb = source.stat().st_size / 1e6 if source.is_file() else 0.0
    exported = export_checkpoint(source, args.out, args.blend or (), weight)
    blended = ""
    if args.blend:
        blend = args.blend[0] if len(args.blend) == 1 else f"the average of {len(args.blend)} files"
        blended = f", blended with {blend} at weight {weight:g}"
    out_mb = Path(args.out).stat().st_size / 1e6
    print(
        f"exported {source} ({exported.kind}, step {exported.step}, {source_mb:.2f} MB) -> "
        f"{args.out} ({out_mb:.2f} MB, sha256 {exported.sha256[:12]}){blended}"
    )
    return 0
