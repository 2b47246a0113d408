"""Motor-skill ceiling: behaviour cloning on ONE variation, then closed-loop success on it.

For each of V sampled train variations, the scripted expert records D robot demos that differ
only in the arm's start (a few cm of jitter); the daml policy (same encoder + MLP as the meta-
learner, no adaptation) is trained by plain BC on them alone and rolled out from R new starts of
the same scene. Nothing has to be inferred about the task, so this measures whether the
architecture, the 64x64 camera and the action contract can do the manipulation at all; the
one-shot benchmark (`daml bench`) adds identifying the task from a human video on new objects.

    python benchmarks/single_task_bc.py --task push --variations 2 --steps 800
    python benchmarks/single_task_bc.py --task pick_place --action-noise 0.2   # DART demos
    python benchmarks/single_task_bc.py --task pick_place --action-noise 0.2 --image-px 128
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import sim
from daml.adapt import AdaptedPolicy
from daml.cli import run_reporting_errors
from daml.commands import count, seed
from daml.config import MetaConfig, ModelConfig, RunConfig
from daml.errors import ConfigError
from daml.evaluate import rollout
from daml.meta import Learner, bc_losses, build_model, theta_of
from daml.train import state_statistics


def record_demos(
    env, variation, count: int, first_seed: int, action_noise: float = 0.0
) -> list[dict]:
    """`count` successful expert demos of `variation` (failed ones are skipped); with
    `action_noise` > 0 they are DART-style (noisy execution, clean labels: sim.robot_demo)."""
    demos, seed = [], first_seed
    while len(demos) < count:
        demo = sim.robot_demo(env, variation, seed=seed, action_noise=action_noise)
        seed += 1
        if demo["success"]:
            demos.append(demo)
        if seed - first_seed > 4 * count:
            raise ConfigError(
                f"the expert succeeded in only {len(demos)} of {seed - first_seed} demos of "
                f"{variation}; lower --action-noise"
            )
    return demos


def train_bc(
    demos: list[dict],
    steps: int,
    batch: int,
    seed: int,
    conv_strides: tuple[int, ...] = (2, 2, 1),
    conv_dilations: tuple[int, ...] = (),
) -> AdaptedPolicy:
    """Plain BC (Adam 1e-3) on the demos; returns the trained policy (image side from the
    demos' frames, encoder strides `conv_strides` and dilations `conv_dilations`)."""
    frames = torch.from_numpy(np.stack([d["frames"] for d in demos])).permute(0, 1, 4, 2, 3)
    states = torch.from_numpy(np.stack([d["states"] for d in demos]))
    actions = torch.from_numpy(np.stack([d["actions"] for d in demos]))
    state_mean, state_std = state_statistics(states.reshape(-1, states.shape[-1]).numpy())
    model = ModelConfig(
        image_px=frames.shape[-1],
        conv_strides=conv_strides,
        conv_dilations=conv_dilations,
        state_mean=state_mean,
        state_std=state_std,
    )
    meta = MetaConfig(inner_steps=0)
    initial = theta_of(Learner.create(model, meta, seed).params)
    theta = {name: value.detach().requires_grad_(True) for name, value in initial.items()}
    optimizer = torch.optim.Adam(theta.values(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    structure = build_model(model)
    for _ in range(steps):
        picks = torch.randint(0, len(demos), (batch,), generator=generator)
        loss = (
            sum(
                bc_losses(structure, theta, frames[i], states[i], actions[i], meta)["total"]
                for i in picks
            )
            / batch
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return AdaptedPolicy(RunConfig(model=model, meta=meta), theta)


def closed_loop_success(env, policy: AdaptedPolicy, variation, seeds: list[int]) -> int:
    """Successful episodes of `policy` on `variation`, one rollout per env reset seed."""
    return sum(rollout(env, policy, variation, seed)[0] for seed in seeds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="push", choices=sim.TASKS)
    parser.add_argument("--variations", type=count, default=2, help="scenes, each its own policy")
    parser.add_argument("--demos", type=count, default=48, help="expert demos per scene")
    parser.add_argument("--steps", type=count, default=800, help="BC steps (batch of 8 demos)")
    parser.add_argument("--rollouts", type=count, default=30, help="closed-loop trials per scene")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument(
        "--action-noise",
        type=float,
        default=0.0,
        help="DART noise std (action units) while recording the demos; labels stay clean",
    )
    parser.add_argument("--image-px", type=count, default=64, help="camera image side")
    parser.add_argument(
        "--conv-strides",
        default="2,2,1",
        help="encoder stride per conv layer (comma-separated; the spatial-softmax map is "
        "image-px / their product)",
    )
    parser.add_argument(
        "--conv-dilations",
        default="",
        help="encoder dilation per conv layer (comma-separated; empty: 1 each), e.g. 1,1,2 "
        "with --conv-strides 2,1,1: the default encoder's receptive fields on a 2x finer map",
    )
    args = parser.parse_args(argv)
    try:
        strides = tuple(int(s) for s in args.conv_strides.split(","))
        dilations = tuple(int(d) for d in args.conv_dilations.split(",") if d)
    except ValueError:
        parser.error("--conv-strides and --conv-dilations take comma-separated whole numbers")
    # the encoder train_bc builds, checked before any demo is recorded (ConfigError: one line)
    ModelConfig(image_px=args.image_px, conv_strides=strides, conv_dilations=dilations)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    rows = []
    with sim.make_env(args.task, sim.EnvConfig(image_px=args.image_px)) as env:
        for index in range(args.variations):
            variation = sim.sample_variation(args.task, "train", rng)
            started = time.perf_counter()
            demos = record_demos(env, variation, args.demos, 1000 * (index + 1), args.action_noise)
            policy = train_bc(
                demos,
                args.steps,
                batch=8,
                seed=args.seed + index,
                conv_strides=strides,
                conv_dilations=dilations,
            )
            seeds = [10**6 + 1000 * index + k for k in range(args.rollouts)]
            wins = closed_loop_success(env, policy, variation, seeds)
            rows.append((index, wins, time.perf_counter() - started))
    print(
        f"{args.task}: BC on one scene ({args.demos} demos, action noise {args.action_noise}, "
        f"{args.steps} steps, {args.image_px}px, strides {args.conv_strides}, "
        f"dilations {args.conv_dilations or '1'}), closed loop"
    )
    print("| scene | success | seconds |")
    print("| ---: | ---: | ---: |")
    for index, wins, seconds in rows:
        print(f"| {index} | {wins}/{args.rollouts} | {seconds:.0f} |")
    total, trials = sum(wins for _, wins, _ in rows), args.rollouts * len(rows)
    print(f"| all | {total}/{trials} ({100 * total / trials:.1f}%) | |")


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("single_task_bc", main))
