"""One module per `daml` subcommand: `add_arguments(parser)` and `run(args) -> int`.

This package module holds only argument groups that several subcommands share; it must stay
light (argparse only) because `daml --help` imports every subcommand module.
"""

from __future__ import annotations

import argparse


def add_policy_device_arguments(parser: argparse.ArgumentParser) -> None:
    """--device (default cpu) and --threads (default 1), for commands that run a small policy.

    Read them with daml.train.set_threads(args.threads) and resolve_device(args.device).
    """
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the small policy gains nothing from more, and "
        "extra threads spin on a busy CPU)",
    )
