"""`python -m sim.twin`: serve the PyBullet arm over the rosbridge v2 protocol.

Examples:
    python -m sim.twin --config launch/panda_sim.toml
    python -m sim.twin --config launch/panda_sim.toml --port 0 --task push --seed 3
"""

from __future__ import annotations

import argparse
import logging
import sys

from sim.errors import SimError
from sim.twin import load_twin_config, serve_forever


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sim.twin",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, help="launch TOML, e.g. launch/panda_sim.toml")
    parser.add_argument(
        "--port", type=int, help="port to listen on (0 = any free; default: config)"
    )
    parser.add_argument("--host", help="address to bind (default: config, 127.0.0.1)")
    parser.add_argument("--task", help="sim task (default: config)")
    parser.add_argument("--seed", type=int, help="variation seed of the first episode")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        help="Python logging level (default WARNING)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(name)s: %(message)s")
    try:
        config = load_twin_config(
            args.config, port=args.port, host=args.host, task=args.task, seed=args.seed
        )
        serve_forever(config)
    except SimError as error:
        print(f"sim twin: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
