"""Meta-train encoder, policy and learned temporal loss on a dataset of demo pairs.

Examples:
    daml train --data data/pick_place --val-data data/pick_place_val --out runs/pp
    daml train --data data/pick_place_s13 data/pick_place_s19 --out runs/pp_both --init pp.pt
    daml train --data data/pick_place --out runs/pp --steps 5000 --config cfg.json
    daml train --data data/pick_place --out runs/pp --resume --steps 8000
    daml train --data data/pick_place --out runs/pp --config cfg.json --set train.val_every=500
    daml train --data data/pick_place --out runs/pp_gpu --device cuda --preload
    daml train --data data/push --out runs/push_ft --init runs/push/best.pt --config ft.json

--init starts a new run (step 0, fresh Adam) from a meta checkpoint's weights and model
section, with the given meta/train config (e.g. "train": {"lr_schedule": "cosine"} to anneal a
run that flattened, or "meta": {"inner_source": "robot_demo"} for a MIL oracle).

The run dir gets config.json, metrics.jsonl, learning_curve.png, last.pt, best.pt (lowest
validation post-adaptation BC loss; needs --val-data) and step_NNNNNN.pt every
train.checkpoint_every steps. cfg.json may hold any subset of {"model": {...}, "meta": {...},
"train": {...}}. `--set SECTION.KEY=VALUE` (repeatable) changes one field of it, after the file
and before --steps / --seed / --init; a --resume may change train.steps, the outer-lr schedule and
the log, validation and checkpoint intervals.
"""

from __future__ import annotations

import argparse

from daml.commands import seed, threads
from daml.config import RunConfig
from daml.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        required=True,
        nargs="+",
        help="training dataset dir(s) (daml collect); several of one task train as one set",
    )
    parser.add_argument("--out", required=True, help="run dir, e.g. runs/NAME")
    parser.add_argument("--val-data", help="held-out dataset dir for validation and best.pt")
    parser.add_argument("--steps", type=int, help="total meta-steps (overrides train.steps)")
    parser.add_argument("--config", help="JSON run config (partial is fine)")
    parser.add_argument("--seed", type=seed, help="overrides train.seed")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config field, e.g. train.checkpoint_every=1000 or "
        "model.conv_channels=32,32,32 (repeatable)",
    )
    parser.add_argument("--resume", action="store_true", help="continue runs/NAME/last.pt")
    parser.add_argument(
        "--init", help="start from this meta checkpoint's weights (overrides train.init_checkpoint)"
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    parser.add_argument(
        "--threads",
        type=threads,
        help="torch CPU threads (on a busy shared CPU, 1 is often fastest)",
    )
    parser.add_argument(
        "--preload",
        action="store_true",
        help="decode every training episode into memory first (~1.2 MB each at 64 px): "
        "no disk reads during training, for GPU runs",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from daml.torch_setup import set_threads
    from daml.train import load_run_config, train

    set_threads(args.threads)
    if args.resume and args.init:
        raise ConfigError("--init starts a new run and --resume continues one; pass only one")
    if args.resume and args.config:
        base = RunConfig.load(args.config)
    elif args.resume:
        base = load_run_config(args.out)
    else:
        base = RunConfig.load(args.config) if args.config else RunConfig()
    config = base.with_overrides(args.set)
    if args.resume and config.model != base.model:  # it would be ignored: refuse it
        raise ConfigError("--resume continues the run's model as saved; drop --set model.*")
    overrides = {}
    if args.steps is not None:
        overrides["steps"] = args.steps
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.init is not None:
        overrides["init_checkpoint"] = args.init
    config = replace(config, train=replace(config.train, **overrides))
    result = train(
        config,
        args.data,
        args.out,
        val_dir=args.val_data,
        resume=args.resume,
        device=args.device,
        progress=not args.no_progress,
        preload=args.preload,
    )
    val = result.last_val
    summary = (
        f"; val BC pre {val['pre_bc']:.4f} -> post-adaptation {val['post_bc']:.4f}" if val else ""
    )
    print(f"trained {result.step} steps -> {result.last_checkpoint}{summary}")
    return 0
