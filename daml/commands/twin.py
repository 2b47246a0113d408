"""Serve the PyBullet arm over the rosbridge v2 protocol (the "sim twin"), until Ctrl-C.

Examples:
    daml twin --config launch/panda_sim.toml
    daml twin --config launch/panda_sim.toml --port 9091 --task push --seed 4

Publishes the camera (JPEG) and the arm state on the config's topics at control_hz, obeys
motion/gripper commands (zero motion when the newest one is older than twin.command_timeout_s)
and offers /daml_twin/reset {seed, split} and /daml_twin/status. Same as `python -m sim.twin`.
"""

from __future__ import annotations

import argparse
import logging

from daml.commands import seed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="launch TOML, e.g. launch/panda_sim.toml")
    parser.add_argument(
        "--port", type=int, help="port to listen on (0 = any free; default: config)"
    )
    parser.add_argument("--host", help="address to bind (default: config, 127.0.0.1)")
    parser.add_argument("--task", help="sim task, pick_place or push (default: config)")
    parser.add_argument("--seed", type=seed, help="variation seed of the first episode")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        help="Python logging level (default WARNING)",
    )


def run(args: argparse.Namespace) -> int:
    from sim.twin import load_twin_config, serve_forever

    logging.basicConfig(level=args.log_level, format="%(name)s: %(message)s")
    config = load_twin_config(
        args.config, port=args.port, host=args.host, task=args.task, seed=args.seed
    )
    serve_forever(config)
    return 0
