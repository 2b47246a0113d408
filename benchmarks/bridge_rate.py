"""Control-loop rate and image latency through rosbridge: `daml.bridge` client <-> sim twin.

The twin runs as a subprocess (`python -m sim.twin`, its own interpreter, as on a real setup);
this process runs the roslibpy bridge and the closed loop at each requested rate, with the twin
publishing at the same rate. Reports per rate: policy steps/s achieved, image latency (camera
stamp -> arrival here) and image age when the policy used it. The runner's ticks are not
phase-locked to the camera's, so the age at use adds 0 .. one camera period to the latency.

Examples:
    python benchmarks/bridge_rate.py
    python benchmarks/bridge_rate.py --hz 10 20 40 --seconds 10 --image-px 64
    python benchmarks/bridge_rate.py --policy adapted.pt        # include policy inference
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import sim
from daml.bridge import RosBridge
from daml.bridge_config import load_launch_config
from daml.cli import run_reporting_errors
from daml.commands import count
from daml.errors import ConfigError
from daml.runner import ClosedLoopRunner
from daml.safety import MotionLimits
from sim.twin.config import load_twin_config

ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"sim twin: serving \S+ on ws://127\.0\.0\.1:(\d+)")


class SmallCircles:
    """A scripted policy (no inference cost) that keeps the arm moving inside the workspace."""

    def __init__(self, image_px: int) -> None:
        self.image_px = image_px
        self.t = 0

    def act(self, image: np.ndarray, state: np.ndarray) -> np.ndarray:
        self.t += 1
        angle = 0.3 * self.t
        return np.array([0.2 * np.cos(angle), 0.2 * np.sin(angle), 0.0, -1.0], np.float32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=str(ROOT / "launch" / "panda_sim.toml"))
    parser.add_argument(
        "--hz",
        type=count,
        nargs="+",
        default=[10, 20, 40, 80],
        help="rates to try (divisors of the sim's physics rate, 160 Hz)",
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="measured loop time per rate")
    parser.add_argument("--image-px", type=count, default=64)
    parser.add_argument("--policy", help="adapted policy file (default: a scripted policy)")
    args = parser.parse_args(argv)
    if not 0 < args.seconds < float("inf"):
        parser.error(f"--seconds must be a positive number, got {args.seconds}")
    config_path = Path(args.config)  # every input is read here, before any twin starts
    load_launch_config(config_path)
    load_twin_config(config_path)
    if args.policy:
        from daml.adapt import load_adapted

        load_adapted(args.policy)
    with tempfile.TemporaryDirectory() as tmp:
        configs = {hz: rate_config(config_path, hz, args.image_px, Path(tmp)) for hz in args.hz}
        print(
            f"# bridge_rate: image {args.image_px}px JPEG, {args.seconds:.0f} s per rate, "
            f"policy {'scripted' if args.policy is None else args.policy}"
        )
        print(
            "target_hz  achieved_hz  img_latency_ms(mean/p95)  img_age_at_use_ms(mean/p95)  steps"
        )
        for hz in args.hz:
            print(measure(configs[hz], hz, args), flush=True)


def rate_config(config_path: Path, hz: int, image_px: int, folder: Path) -> Path:
    """`config_path` with control_hz = `hz` and image_px = `image_px`, written into `folder`;
    ConfigError (one line, before any twin starts) if the sim cannot run at that rate and image
    size."""
    try:
        sim.EnvConfig(image_px=image_px, control_hz=hz)
    except sim.SimError as error:
        raise ConfigError(f"--hz {hz} with --image-px {image_px}: {error}") from None
    text = config_path.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^control_hz = .*$", f"control_hz = {hz}", text)
    text = re.sub(r"(?m)^image_px = .*$", f"image_px = {image_px}", text)
    path = folder / f"bench_{hz}hz.toml"
    path.write_text(text, encoding="utf-8")
    load_launch_config(path)
    return path


def measure(path: Path, hz: int, args: argparse.Namespace) -> str:
    """One rate's line of the table: a twin serving `path`, the closed loop against it."""
    twin = subprocess.Popen(
        [sys.executable, "-m", "sim.twin", "--config", str(path), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        port = _wait_port(twin)
        config = load_launch_config(path)
        config = dataclasses.replace(
            config,
            rosbridge=dataclasses.replace(config.rosbridge, url=f"ws://127.0.0.1:{port}"),
        )
        return _loop(config, hz, args)
    finally:
        twin.terminate()
        twin.wait(20)


def _loop(config, hz: int, args: argparse.Namespace) -> str:
    if args.policy:
        from daml.adapt import load_adapted

        policy = load_adapted(args.policy)
    else:
        policy = SmallCircles(args.image_px)
    with RosBridge(config) as bridge:
        step_times, latencies, ages, seen = [], [], [], [0]

        def record(status) -> None:
            if status.steps > seen[0] and status.halted is None:
                seen[0] = status.steps
                step_times.append(time.monotonic())
                image_age, _ = bridge.input_ages()
                latencies.append(status.image_latency_s)
                ages.append(status.image_latency_s + image_age)

        runner = ClosedLoopRunner(
            bridge, policy, MotionLimits.from_config(config), on_status=record
        )
        warmup = 1.0
        bridge_started = time.monotonic()
        timer = threading.Timer(
            warmup + args.seconds, runner.request_stop, args=("benchmark over",)
        )
        timer.start()
        runner.run()
        timer.cancel()
    keep = [i for i, t in enumerate(step_times) if t >= bridge_started + warmup]
    if len(keep) < 2:
        return f"{hz:9d}  no steady-state steps measured"
    span = step_times[keep[-1]] - step_times[keep[0]]
    rate = (len(keep) - 1) / span
    lat = 1000 * np.array([latencies[i] for i in keep])
    age = 1000 * np.array([ages[i] for i in keep])
    return (
        f"{hz:9d}  {rate:11.1f}  {lat.mean():10.1f} / {np.percentile(lat, 95):6.1f}"
        f"  {age.mean():14.1f} / {np.percentile(age, 95):6.1f}  {len(keep):12d}"
    )


def _wait_port(twin: subprocess.Popen, timeout_s: float = 60.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = twin.stdout.readline()
        if not line and twin.poll() is not None:
            break
        match = READY.search(line)
        if match:
            return int(match.group(1))
    raise SystemExit("bridge_rate: the sim twin did not start")


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("bridge_rate", main))
