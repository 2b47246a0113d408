"""Does a slower descent onto the grasp make the scripted pick_place expert more robust to noise?

Runs `sim.robot_demo` with DART action noise on the same train scenes and the same noise seeds
once per `--descent-steps` value (`daml collect --descent-steps`) and prints each value's success
count, so the values differ only in the plan's timing. Episode k uses the k-th variation drawn
from `--seed` and env/noise seed `--episode-seed + k`.

    python benchmarks/expert_descent.py                      # 150 scenes, descents 3 6 8
    python benchmarks/expert_descent.py --variations 50 --descent-steps 3 6 --action-noise 0.4
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

import sim


def expert_successes(
    descent_steps: int, variations: int, action_noise: float, seed: int, episode_seed: int
) -> int:
    """Successful noisy robot demos of `variations` pick_place train scenes."""
    rng = np.random.default_rng(seed)
    successes = 0
    with sim.make_env("pick_place") as env:
        for k in range(variations):
            variation = sim.sample_variation("pick_place", "train", rng)
            demo = sim.robot_demo(
                env,
                variation,
                seed=episode_seed + k,
                action_noise=action_noise,
                descent_steps=descent_steps,
            )
            successes += demo["success"]
    return successes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variations", type=int, default=150, help="train scenes per value")
    parser.add_argument("--descent-steps", type=int, nargs="+", default=[3, 6, 8])
    parser.add_argument("--action-noise", type=float, default=0.2, help="DART noise, action units")
    parser.add_argument("--seed", type=int, default=123, help="draws the variations")
    parser.add_argument("--episode-seed", type=int, default=1000, help="env/noise seed of scene 0")
    args = parser.parse_args(argv)
    if args.variations < 1:
        parser.error("--variations must be >= 1")
    if min(args.descent_steps) < 1 or not args.action_noise >= 0.0:
        parser.error("--descent-steps must be >= 1 and --action-noise >= 0")
    print("command:", " ".join([os.path.basename(sys.executable), *sys.argv]))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    for descent_steps in args.descent_steps:
        start = time.perf_counter()
        ok = expert_successes(
            descent_steps, args.variations, args.action_noise, args.seed, args.episode_seed
        )
        print(
            f"descent_steps={descent_steps}: expert success {ok}/{args.variations}"
            f" ({ok / args.variations:.1%}) at action noise {args.action_noise},"
            f" {time.perf_counter() - start:.0f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
