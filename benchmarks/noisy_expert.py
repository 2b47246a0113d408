"""How often the scripted robot expert succeeds when its motion is noisy (DART, as `daml collect
--action-noise` records it), with and without the push recovery (`--push-retries`).

A DART train set keeps only the demos that succeed, so the expert's failures under noise are the
states its demos never show. Each setting runs the same train variations and seeds:

    .venv/bin/python benchmarks/noisy_expert.py --task push --variations 200 --noise 0.2 \
        --push-retries 0 3
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

import sim

DEMO_SEED_BASE = 1000  # robot demo k uses seed DEMO_SEED_BASE + k


def noisy_demos(
    task: str, variations: int, noise: float, push_retries: int, seed: int
) -> tuple[int, int, float]:
    """(successes, demos that started a retry, seconds per demo) on `variations` train
    variations drawn from `seed`."""
    rng = np.random.default_rng(seed)
    successes = retried = 0
    start = time.perf_counter()
    with sim.make_env(task) as env:
        for k in range(variations):
            variation = sim.sample_variation(task, "train", rng)
            demo = sim.robot_demo(
                env,
                variation,
                seed=DEMO_SEED_BASE + k,
                action_noise=noise,
                push_retries=push_retries,
            )
            successes += demo["success"]
            retried += demo["retried"]
    return successes, retried, (time.perf_counter() - start) / variations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="push", choices=sim.TASKS)
    parser.add_argument("--variations", type=int, default=200, help="demos per setting")
    parser.add_argument("--noise", type=float, default=0.2, help="DART noise (action units)")
    parser.add_argument(
        "--push-retries", type=int, nargs="+", default=[0], help="settings to compare (push)"
    )
    parser.add_argument("--seed", type=int, default=123, help="seed of the sampled variations")
    args = parser.parse_args(argv)
    if args.variations < 1:
        parser.error(f"--variations must be >= 1, got {args.variations}")
    print("command:", " ".join([os.path.basename(sys.executable), *sys.argv]))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores\n")
    print("| task | noise | push retries | expert success | retried | s per demo |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for retries in args.push_retries:
        try:
            ok, retried, seconds = noisy_demos(
                args.task, args.variations, args.noise, retries, args.seed
            )
        except sim.SimError as error:
            parser.error(str(error))
        print(
            f"| {args.task} | {args.noise:g} | {retries} | {ok}/{args.variations} "
            f"({ok / args.variations:.1%}) | {retried} | {seconds:.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
