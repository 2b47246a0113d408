"""Drive an arm through rosbridge with an adapted policy (closed loop, with safety clamps).

Examples:
    daml run --rosbridge ws://127.0.0.1:9090 --policy adapted.pt --config launch/panda_sim.toml
    daml run --policy adapted.pt --config launch/panda_sim.toml --max-steps 40
    daml run --policy adapted.pt --config launch/franka_real.toml --dry-run

The live status line shows the achieved control rate, the camera-to-here image latency and
the last command (or why the arm is halted). Ctrl-C or SIGTERM halts the arm (zero motion)
and exits cleanly. Stale camera/state, a dropped connection or a NaN action halt the arm
until fresh data arrives again; a dropped connection is retried with back-off.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from daml.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="launch TOML, e.g. launch/panda_sim.toml")
    parser.add_argument("--policy", required=True, help="adapted policy file (from `daml adapt`)")
    parser.add_argument("--rosbridge", help="rosbridge URL (default: [rosbridge].url of --config)")
    parser.add_argument(
        "--max-steps", type=int, help="stop after N policy steps (default: run until Ctrl-C)"
    )
    parser.add_argument("--dry-run", action="store_true", help="log commands; never publish them")
    parser.add_argument(
        "--task",
        help="the task the arm is set up for: a policy adapted by a model of another task is "
        "refused (launch/bringup.py passes the twin's)",
    )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from daml.bridge import RosBridge
    from daml.bridge_config import load_launch_config
    from daml.graceful_stop import on_stop_signals
    from daml.runner import ClosedLoopRunner
    from daml.safety import MotionLimits

    if args.max_steps is not None and args.max_steps < 1:
        raise ConfigError(f"--max-steps must be >= 1, got {args.max_steps}")
    config = load_launch_config(args.config)
    policy = _load_policy(args.policy, config.camera.image_px, args.task)  # before the network
    with RosBridge(config, url=args.rosbridge, dry_run=args.dry_run) as bridge:
        with tqdm(total=args.max_steps, unit="step", desc="daml run", dynamic_ncols=True) as bar:
            _log_through(bar, verbose=args.dry_run)

            def show(status) -> None:  # redrawn every tick: a halted arm takes no steps
                bar.set_postfix_str(status.line(), refresh=status.steps == bar.n)
                bar.update(status.steps - bar.n)

            runner = ClosedLoopRunner(
                bridge, policy, MotionLimits.from_config(config), args.max_steps, on_status=show
            )

            def stop(signum: int) -> None:  # the loop then halts the arm
                runner.request_stop(f"received {signal.Signals(signum).name}")

            with on_stop_signals(stop):
                summary = runner.run()
    latency = summary.mean_image_latency_s
    print(
        f"daml run: {summary.steps} steps at {summary.mean_rate_hz:.1f} Hz "
        f"(image latency {'-' if latency is None else f'{1000 * latency:.0f} ms'}, "
        f"{summary.watchdog_stops} watchdog halts, {summary.nan_stops} NaN halts, "
        f"{summary.reconnects} reconnects, {summary.server_errors} rosbridge errors); "
        f"stopped: {summary.stop_reason}; " + _final_stop(args.dry_run, summary.final_stop_sent),
        file=sys.stderr,
    )
    if summary.last_server_error is not None:
        print(f"daml run: rosbridge's last error: {summary.last_server_error}", file=sys.stderr)
    return 0


def _final_stop(dry_run: bool, sent: bool) -> str:
    if dry_run:
        return "dry run: nothing was published"
    if sent:
        return "zero motion sent"
    return "zero motion NOT sent (rosbridge was down; the arm's own command timeout must stop it)"


def _load_policy(path: str, image_px: int, task: str | None):
    from daml.adapt import load_adapted

    policy = load_adapted(path)
    if policy.image_px != image_px:
        raise ConfigError(
            f"policy {path} takes {policy.image_px}px images but camera.image_px = {image_px}; "
            f"set camera.image_px = {policy.image_px} in the launch config"
        )
    trained_on = policy.info.get("task")
    if task is not None and trained_on is not None and trained_on != task:
        raise ConfigError(
            f"policy {path} was adapted by a {trained_on} model, and the arm is set up for {task}; "
            f"adapt a {task} model (daml adapt --checkpoint ...)"
        )
    return policy


def _log_through(bar, verbose: bool) -> None:
    """Route daml.bridge log lines through tqdm.write so they don't break the status line."""

    class TqdmHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            bar.write(self.format(record), file=sys.stderr)

    log = logging.getLogger("daml.bridge")
    log.handlers = [TqdmHandler()]
    log.handlers[0].setFormatter(logging.Formatter("daml.bridge: %(message)s"))
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    log.propagate = False
