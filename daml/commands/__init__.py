"""One module per `daml` subcommand: `add_arguments(parser)` and `run(args) -> int`.

This package module holds only what several subcommands share: argument groups and the check
of mode-specific options. It must stay light (argparse, daml.config and daml.errors only) because
`daml --help` imports every subcommand module.
"""

from __future__ import annotations

import argparse
import os

from daml.config import MAX_SEED
from daml.errors import ConfigError

MAX_THREADS_PER_CORE = 4
MAX_VARIATIONS = 1_000_000  # per command (~2 CPU-weeks of rollouts): more is a typo


def check_count(flag: str, value: int) -> int:
    """`value` of --variations, --trials or --episodes if in [1, MAX_VARIATIONS]; else
    ConfigError (one line from the CLI, before any work)."""
    if not 1 <= value <= MAX_VARIATIONS:
        raise ConfigError(f"{flag} must be in [1, {MAX_VARIATIONS}], got {value}")
    return value


def count(text: str) -> int:
    """argparse type of a count (episodes, repeats, steps, variations): a whole number in
    [1, MAX_VARIATIONS], so that zero or a negative count fails in one usage line."""
    return _whole_number(text, 1, MAX_VARIATIONS)


def seed(text: str) -> int:
    """argparse type of every --seed: a whole number in [0, MAX_SEED] (numpy's seeding refuses
    negatives and torch's Generator numbers past 64 bits; 32 bits are every seed the project's
    runs have used, and fit every consumer with room to spare)."""
    return _whole_number(text, 0, MAX_SEED)


def threads(text: str) -> int:
    """argparse type of every --threads: 1 to MAX_THREADS_PER_CORE per CPU core (more only
    thrashes, and far more makes OpenBLAS fail to start its threads)."""
    return _whole_number(text, 1, MAX_THREADS_PER_CORE * (os.cpu_count() or 1), " on this machine")


def _whole_number(text: str, low: int, high: int, where: str = "") -> int:
    """`text` as an int in [low, high], else argparse.ArgumentTypeError saying what was wanted."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= {low}, got {text!r}"
        ) from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be in [{low}, {high}]{where}, got {value}")
    return value


def add_policy_device_arguments(parser: argparse.ArgumentParser) -> None:
    """--device (default cpu) and --threads (default 1), for commands that run a small policy.

    Read them with daml.torch_setup.set_threads(args.threads) and resolve_device(args.device).
    """
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    parser.add_argument(
        "--threads",
        type=threads,
        default=1,
        help="torch CPU threads (default 1: the small policy gains nothing from more, and "
        "extra threads spin on a busy CPU)",
    )


def apply_mode_options(
    args: argparse.Namespace, chosen: str, options_by_mode: dict[str, dict[str, object]]
) -> None:
    """Fill the chosen mode's option defaults; refuse any other mode's option that was given.

    `options_by_mode` maps a mode's name (e.g. "--camera") to {dest: default} of the options
    only it reads; they are declared with default None so that "given" can be told apart. An
    option of another mode raises ConfigError instead of being silently ignored.
    """
    for mode, options in options_by_mode.items():
        for name, default in options.items():
            value = getattr(args, name)
            if mode == chosen:
                setattr(args, name, default if value is None else value)
            elif value is not None:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} is for {mode}; it does not apply to {chosen}")
