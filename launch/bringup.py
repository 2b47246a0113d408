"""Bring up the sim twin and the policy runner as two subprocesses; shut both down cleanly.

Examples:
    python launch/bringup.py --config launch/panda_sim.toml --policy adapted.pt
    python launch/bringup.py --config launch/panda_sim.toml --policy adapted.pt --max-steps 40
    python launch/bringup.py --config launch/panda_sim.toml --policy adapted.pt --port 0 --dry-run

The twin starts first (`python -m sim.twin`); once it prints its ready line the runner starts
(`python -m daml run --rosbridge ws://127.0.0.1:PORT ...`). Ctrl-C or SIGTERM stops the runner
first (it halts the arm: zero motion), then the twin. When either child exits the other is
stopped too. Children get SIGTERM if this script dies (Linux), so none are orphaned.
Exit code: the runner's.
"""

from __future__ import annotations

import argparse
import ctypes
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

READY_PREFIX = "sim twin: serving"  # printed by sim.twin once it accepts connections
PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 10.0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stop.set())
    twin_command = [
        sys.executable,
        "-m",
        "sim.twin",
        "--config",
        args.config,
        "--port",
        str(args.port),
    ]
    twin = _spawn(twin_command, capture_stdout=True)
    try:
        ready = _wait_ready(twin, args.start_timeout_s, stop)
        if ready is None:
            print("bringup: the sim twin did not come up; see its messages above", file=sys.stderr)
            return 2
        task, port = ready
        command = [sys.executable, "-m", "daml", "run", "--rosbridge", f"ws://127.0.0.1:{port}"]
        command += ["--policy", args.policy, "--config", args.config, "--task", task]
        command += ["--max-steps", str(args.max_steps)] if args.max_steps is not None else []
        command += ["--dry-run"] if args.dry_run else []
        runner = _spawn(command)
        while not stop.is_set() and runner.poll() is None and twin.poll() is None:
            stop.wait(0.1)
        _terminate(runner)
        if twin.poll() is not None and runner.returncode == 0 and not stop.is_set():
            print(f"bringup: the sim twin exited early (code {twin.returncode})", file=sys.stderr)
            return 2
        return runner.returncode
    finally:
        _terminate(twin)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="launch/panda_sim.toml", help="launch TOML")
    parser.add_argument("--policy", required=True, help="adapted policy file (from `daml adapt`)")
    parser.add_argument(
        "--port", type=int, default=9090, help="twin port on 127.0.0.1 (0 = any free)"
    )
    parser.add_argument("--max-steps", type=int, help="runner stops after N policy steps")
    parser.add_argument("--dry-run", action="store_true", help="runner logs commands only")
    parser.add_argument("--start-timeout-s", type=float, default=60.0, help="wait for the twin")
    args = parser.parse_args(argv)
    if not Path(args.config).is_file():
        parser.error(f"--config {args.config} not found")
    if not Path(args.policy).is_file():  # before the twin starts, not after
        parser.error(f"--policy {args.policy} not found")
    if args.max_steps is not None and args.max_steps < 1:  # 0 must not mean "run forever"
        parser.error(f"--max-steps must be >= 1, got {args.max_steps}")
    return args


def _spawn(command: list[str], capture_stdout: bool = False) -> subprocess.Popen:
    """Start a child in its own process group (a terminal's Ctrl-C reaches only this script,
    which stops the children in order) that gets SIGTERM if this script dies."""
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE if capture_stdout else None,
        text=True,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_ready(
    twin: subprocess.Popen, timeout_s: float, stop: threading.Event
) -> tuple[str, int] | None:
    """Read the twin's stdout until its ready line (`sim twin: serving TASK on ws://HOST:PORT`);
    return (task, port), or None if it failed."""
    found: list[tuple[str, int]] = []

    def read() -> None:
        for line in twin.stdout:
            print(line, end="", flush=True)
            if line.startswith(READY_PREFIX) and not found:
                task = line[len(READY_PREFIX) :].split()[0]
                found.append((task, int(line.rsplit(":", 1)[1])))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not found and twin.poll() is None and time.monotonic() < deadline and not stop.is_set():
        time.sleep(0.05)
    return found[0] if found else None


def _terminate(child: subprocess.Popen) -> None:
    """SIGINT (the runner halts the arm on it), then SIGTERM, then SIGKILL; always reaped."""
    for sig, wait_s in (
        (signal.SIGINT, STOP_GRACE_S),
        (signal.SIGTERM, 5.0),
        (signal.SIGKILL, 5.0),
    ):
        if child.poll() is not None:
            return
        child.send_signal(sig)
        try:
            child.wait(wait_s)
        except subprocess.TimeoutExpired:
            continue


if __name__ == "__main__":
    sys.exit(main())
