"""`daml <subcommand>`: the composition root, the only place where `sim` and `daml` meet.

Each subcommand lives in `daml/commands/<name>.py` with `add_arguments(parser)` and
`run(args) -> int`; they import torch, sim and cv2 inside `run`, so `daml --help` stays fast.

Examples:
    daml collect --task pick_place --variations 100 --split train --out data/pick_place
    daml train --data data/pick_place --out runs/pp
    daml demo
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Callable

from daml.errors import DamlError

DESCRIPTION = "Teach a robot arm a task from one human video (domain-adaptive meta-learning)."

# name -> one-line help. Order is the order shown by `daml --help`.
COMMANDS: dict[str, str] = {
    "demo": "adapt the shipped model from a sample human video and run it in the sim (offline)",
    "collect": "collect robot + human demonstrations for a task into a dataset",
    "train": "meta-train encoder, policy and learned temporal loss on a dataset",
    "adapt": "adapt a checkpoint from one human video; save the adapted policy",
    "eval": "one-shot success rate on held-out variations in the sim",
    "bench": "benchmark DAML against baselines on held-out objects",
    "export": "copy a checkpoint without its training-only state, to ship or share",
    "record": "record or prepare a demo video (camera, file or sim avatar)",
    "run": "drive an arm through rosbridge with an adapted policy",
    "twin": "serve the PyBullet arm over the rosbridge v2 protocol",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="daml", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"daml.commands.{name}")
        command_parser = sub.add_parser(name, help=help_text, description=module.__doc__)
        command_parser.formatter_class = argparse.RawDescriptionHelpFormatter
        module.add_arguments(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `daml` with `argv` (default: sys.argv[1:]) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    return run_reporting_errors(f"daml {args.command}", lambda: args._run(args))


def run_reporting_errors(prog: str, run: Callable[[], int | None]) -> int:
    """Call `run()` and return its exit code (None: 0), as `daml` runs a subcommand.

    A daml/sim error or an OSError becomes one line on stderr, "PROG: error: MESSAGE", and
    exit code 2; Ctrl-C or a stop signal (daml.graceful_stop.Stopped) one line and 128 + the
    signal's number. Anything else is a bug and propagates with its traceback. The benchmark
    scripts run their main() through this too, so bad input fails there as it does in `daml`.
    """
    try:
        return int(run() or 0)
    except Exception as error:
        if not (_is_user_error(error) or isinstance(error, OSError)):
            raise
        print(f"{prog}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as error:  # Ctrl-C, or daml.graceful_stop.Stopped (SIGINT / SIGTERM)
        signum = getattr(error, "signum", signal.SIGINT)
        how = (
            "interrupted"
            if signum == signal.SIGINT
            else f"stopped by {signal.Signals(signum).name}"
        )
        print(f"{prog}: {how}", file=sys.stderr)
        return 128 + signum


def _is_user_error(error: Exception) -> bool:
    """DamlError, or sim's SimError (checked only if sim was imported: cli must not import it)."""
    if isinstance(error, DamlError):
        return True
    sim_errors = sys.modules.get("sim.errors")
    return sim_errors is not None and isinstance(error, sim_errors.SimError)


def _one_line(error: Exception) -> str:
    """The message of a daml/sim error; for an OSError the file system raised where no check
    named it (a name too long, a full disk, a permission taken away mid-run), what the system
    said and of which file."""
    if isinstance(error, OSError) and error.strerror:  # (no daml or sim error is an OSError)
        files = [str(name) for name in (error.filename, error.filename2) if name is not None]
        return f"{error.strerror}: {' -> '.join(files)}" if files else error.strerror
    return str(error)


def _version() -> str:
    from daml import __version__

    return f"daml {__version__}"


if __name__ == "__main__":
    sys.exit(main())
