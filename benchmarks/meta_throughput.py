"""Meta-training throughput: one batched torch.func.vmap computation vs a per-task Python loop.

Times full second-order meta-steps (inner step on the human video, outer BC loss, backward,
Adam) of the same model on the same random meta-batch, and prints a markdown table.

Examples:
    .venv/bin/python benchmarks/meta_throughput.py                       # 4, 16, 64 tasks, CPU
    .venv/bin/python benchmarks/meta_throughput.py --tasks 8 --paths vmap --repeats 5
    .venv/bin/python benchmarks/meta_throughput.py --device cuda --tasks 4 16 64 256
    .venv/bin/python benchmarks/meta_throughput.py --config configs/daml_push_wide_scratch_gpu.json
        # that config's model and meta sections (image size and T from --image-px / --frames)
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import replace

import torch

from daml.cli import run_reporting_errors
from daml.commands import count, threads
from daml.config import RunConfig
from daml.errors import DamlError
from daml.meta import Learner, meta_loss, meta_loss_per_task, trainable_params
from daml.meta_batch import MetaBatch
from daml.torch_setup import resolve_device

PATHS: dict[str, Callable] = {"vmap": meta_loss, "loop": meta_loss_per_task}


def random_batch(tasks: int, frames: int, image_px: int, device: torch.device) -> MetaBatch:
    """A meta-batch of uniform noise: human/robot frames uint8 (B, T, 3, H, W), states, actions."""
    g = torch.Generator().manual_seed(0)
    shape = (tasks, frames, 3, image_px, image_px)
    actions = torch.rand(tasks, frames, 4, generator=g) * 2 - 1
    return MetaBatch(
        human_frames=torch.randint(0, 256, shape, generator=g, dtype=torch.uint8),
        robot_frames=torch.randint(0, 256, shape, generator=g, dtype=torch.uint8),
        robot_states=torch.rand(tasks, frames, 4, generator=g),
        robot_actions=actions,
    ).to(device)


def time_meta_steps(
    loss_fn: Callable, learner: Learner, batch: MetaBatch, warmup: int, repeats: int
) -> float:
    """Median seconds per meta-step (loss + backward + Adam step)."""
    optimizer = torch.optim.Adam(trainable_params(learner.params, learner.meta_config), lr=1e-4)
    device = batch.robot_actions.device
    times = []
    for index in range(warmup + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        loss, _ = loss_fn(learner.model, learner.params, batch, learner.meta_config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if index >= warmup:
            times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    return (
        f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tasks", type=count, nargs="+", default=[4, 16, 64], help="meta-batch sizes"
    )
    parser.add_argument("--frames", type=count, default=40, help="T frames per demo")
    parser.add_argument("--image-px", type=count, default=64, help="square image side")
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS))
    parser.add_argument("--first-order", action="store_true", help="first-order inner step")
    parser.add_argument("--warmup", type=int, default=1, help="untimed meta-steps per case")
    parser.add_argument("--repeats", type=count, default=3, help="timed meta-steps per case")
    parser.add_argument("--threads", type=threads, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument(
        "--config", help="JSON run config whose model and meta sections to time (default: defaults)"
    )
    args = parser.parse_args(argv)
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
        run_config = RunConfig.load(args.config) if args.config else RunConfig()
        model_config = replace(run_config.model, image_px=args.image_px, episode_steps=args.frames)
        meta_config = replace(run_config.meta, second_order=not args.first_order)
    except DamlError as error:  # a bad device, config or size: one line, exit 2, as the CLI does
        print(f"meta_throughput: error: {error}", file=sys.stderr)
        return 2
    model_name = f"model of {args.config}" if args.config else "default model"
    learner = Learner.create(model_config, meta_config, seed=0).to(device)
    order = "first" if args.first_order else "second"
    print(
        f"DAML meta-step, {order} order, {model_name}, T={args.frames}, "
        f"{args.image_px}x{args.image_px}, {machine(device)}\n"
    )
    print("| tasks | " + " | ".join(f"{p} ms/step | {p} tasks/s" for p in args.paths) + " |")
    print("|---:|" + "---:|---:|" * len(args.paths))
    for tasks in args.tasks:
        batch = random_batch(tasks, args.frames, args.image_px, device)
        cells = []
        for path in args.paths:
            seconds = time_meta_steps(PATHS[path], learner, batch, args.warmup, args.repeats)
            cells += [f"{seconds * 1e3:.0f}", f"{tasks / seconds:.1f}"]
        print(f"| {tasks} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("meta_throughput", main))
