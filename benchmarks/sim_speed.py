"""Simulator figures: step+render frames/s on one core, scripted-expert success per task, and
seconds per robot+human demo pair.

    .venv/bin/python benchmarks/sim_speed.py                      # 100 variations per task
    .venv/bin/python benchmarks/sim_speed.py --variations 20 --pairs 5
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

import sim
from daml.cli import run_reporting_errors
from daml.commands import count, seed
from sim.experts import desired_position, expert_action, plan


def step_render_rate(task: str, config: sim.EnvConfig, episodes: int) -> tuple[float, float, float]:
    """env.step (physics + IK + render) following the expert, so the arm is in view.

    Returns (frames per CPU-second of this process, frames per wall-second, ms per reset).
    CPU time is the per-core figure on a shared box; wall time includes waiting for the core.
    """
    step_s, step_cpu_s, reset_s, frames = 0.0, 0.0, 0.0, 0
    with sim.make_env(task, config) as env:
        for k in range(episodes):
            start = time.perf_counter()
            obs, _ = env.reset(seed=k)
            reset_s += time.perf_counter() - start
            trajectory = plan(env, obs["state"][:3].astype(np.float64))
            for t in range(env.episode_steps):
                ee = obs["state"][:3].astype(np.float64)
                action = expert_action(
                    ee, desired_position(env, trajectory, t, ee), float(trajectory.grippers[t])
                )
                start, start_cpu = time.perf_counter(), time.process_time()
                obs, *_ = env.step(action)
                step_s += time.perf_counter() - start
                step_cpu_s += time.process_time() - start_cpu
                frames += 1
    return frames / step_cpu_s, frames / step_s, 1000.0 * reset_s / episodes


def demo_success(
    task: str, config: sim.EnvConfig, n: int, seed: int, human: bool
) -> tuple[float, float]:
    """(success fraction, seconds per demo) on n train variations.

    human=False: the scripted expert's robot demos. human=True: a robot + human demo pair per
    variation (as `daml collect` makes them), scored by the human demonstrator's success.
    """
    rng = np.random.default_rng(seed)
    successes = 0
    start = time.perf_counter()
    with sim.make_env(task, config) as env:
        for k in range(n):
            variation = sim.sample_variation(task, "train", rng)
            success = sim.robot_demo(env, variation, seed=k)["success"]
            if human:
                look = sim.sample_look("train", rng)
                success = sim.human_demo(env, variation, look, seed=k)["success"]
            successes += success
    return successes / n, (time.perf_counter() - start) / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variations", type=count, default=100, help="expert demos per task")
    parser.add_argument("--pairs", type=count, default=20, help="robot+human pairs per task")
    parser.add_argument("--speed-episodes", type=count, default=10, help="episodes timed per task")
    parser.add_argument("--image-px", type=count, default=64)
    parser.add_argument("--seed", type=seed, default=12345)
    args = parser.parse_args(argv)
    config = sim.EnvConfig(image_px=args.image_px)
    print("command:", " ".join([os.path.basename(sys.executable), *sys.argv]))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores;"
        f" single process (one core); {config}"
    )
    for task in sim.TASKS:
        cpu_fps, wall_fps, reset_ms = step_render_rate(task, config, args.speed_episodes)
        print(
            f"{task}: step+render {cpu_fps:.0f} frames per CPU-second ({wall_fps:.0f} per"
            f" wall-second) at {args.image_px}x{args.image_px}, reset {reset_ms:.1f} ms"
        )
        rate, demo_s = demo_success(task, config, args.variations, args.seed, human=False)
        print(
            f"{task}: expert success {rate:.1%} on {args.variations} train variations,"
            f" {demo_s:.3f} s per robot demo"
        )
        human_rate, pair_s = demo_success(task, config, args.pairs, args.seed + 1, human=True)
        print(
            f"{task}: {pair_s:.3f} s per robot+human demo pair ({args.pairs} pairs),"
            f" human-demo success {human_rate:.1%}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("sim_speed", main))
