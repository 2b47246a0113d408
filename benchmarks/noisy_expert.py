"""How often the scripted robot expert succeeds when its motion is noisy (DART, as `daml collect
--action-noise` records it), for each setting of the expert's options: the pick_place descent
(`--descent-steps`), the push recovery (`--push-retries`) and, for pick_place, the expert that
plans once against the one re-planned from the scene at every step (`--labels plan replan`,
sim.replanning: DAgger's labeller, here driving itself).

A DART train set keeps only the demos that succeed, so the expert's failures under noise are the
states its demos never show. Every setting runs the same train scenes and noise seeds, so the
settings differ only in the expert: episode k uses the k-th variation drawn from `--seed` and
env/noise seed `--episode-seed + k`.

    python benchmarks/noisy_expert.py --task push --variations 200 --push-retries 0 3
    python benchmarks/noisy_expert.py --task pick_place --variations 150 --descent-steps 3 6 8
    python benchmarks/noisy_expert.py --task pick_place --descent-steps 8 --labels plan replan
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import time

import numpy as np

import sim
from daml.cli import run_reporting_errors
from daml.commands import seed
from sim.experts import DESCENT_STEPS


def noisy_demos(
    task: str,
    variations: int,
    action_noise: float,
    seed: int,
    episode_seed: int,
    descent_steps: int = DESCENT_STEPS,
    push_retries: int = 0,
    labels: str = "plan",
) -> tuple[int, int, float]:
    """(successes, demos that started a recovery, seconds per demo) on `variations` train
    scenes of `task`."""
    rng = np.random.default_rng(seed)
    successes = retried = 0
    start = time.perf_counter()
    with sim.make_env(task) as env:
        for k in range(variations):
            variation = sim.sample_variation(task, "train", rng)
            demo = sim.robot_demo(
                env,
                variation,
                seed=episode_seed + k,
                action_noise=action_noise,
                descent_steps=descent_steps,
                push_retries=push_retries,
                labels=labels,
            )
            successes += demo["success"]
            retried += demo["retried"]
    return successes, retried, (time.perf_counter() - start) / variations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="push", choices=sim.TASKS)
    parser.add_argument("--variations", type=int, default=200, help="train scenes per setting")
    parser.add_argument("--action-noise", type=float, default=0.2, help="DART noise, action units")
    parser.add_argument(
        "--descent-steps",
        type=int,
        nargs="+",
        default=[DESCENT_STEPS],
        help="pick_place: descents onto the grasp to compare (daml collect --descent-steps)",
    )
    parser.add_argument(
        "--push-retries",
        type=int,
        nargs="+",
        default=[0],
        help="push: recoveries allowed, to compare (daml collect --push-retries)",
    )
    parser.add_argument(
        "--labels",
        nargs="+",
        default=["plan"],
        help="pick_place: the expert that plans once (plan) or re-plans every step (replan)",
    )
    parser.add_argument("--seed", type=seed, default=123, help="draws the scenes")
    parser.add_argument("--episode-seed", type=seed, default=1000, help="env/noise seed of scene 0")
    args = parser.parse_args(argv)
    if args.variations < 1:
        parser.error(f"--variations must be >= 1, got {args.variations}")
    print("command:", " ".join([os.path.basename(sys.executable), *sys.argv]))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores\n")
    print("| task | expert | action noise | descent steps | push retries | expert success "
          "| retried | s per demo |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    settings = itertools.product(args.labels, args.descent_steps, args.push_retries)
    for labels, descent_steps, retries in settings:
        try:
            ok, retried, seconds = noisy_demos(
                args.task,
                args.variations,
                args.action_noise,
                args.seed,
                args.episode_seed,
                descent_steps,
                retries,
                labels,
            )
        except sim.SimError as error:
            parser.error(str(error))
        print(
            f"| {args.task} | {labels} | {args.action_noise:g} | {descent_steps} | {retries} "
            f"| {ok}/{args.variations} ({ok / args.variations:.1%}) | {retried} "
            f"| {seconds:.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("noisy_expert", main))
