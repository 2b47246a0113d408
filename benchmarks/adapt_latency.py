"""Test-time latency: adapting on one human video (ms) and one policy step AdaptedPolicy.act (ms).

Uses a checkpoint if given, else a freshly initialised learner of the default size (the
timings depend on the model size only, not on the weights).

Examples:
    .venv/bin/python benchmarks/adapt_latency.py
    .venv/bin/python benchmarks/adapt_latency.py --checkpoint runs/pp/best.pt --repeats 20
    .venv/bin/python benchmarks/adapt_latency.py --inner-steps 5 --camera-px 480
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from dataclasses import replace

import numpy as np
import torch

from daml.adapt import adapt_from_frames, load_learner
from daml.cli import run_reporting_errors
from daml.commands import count, threads
from daml.config import MetaConfig, ModelConfig
from daml.meta import Learner


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="meta checkpoint (default: fresh default learner)")
    parser.add_argument("--inner-steps", type=count, help="override meta.inner_steps")
    parser.add_argument("--camera-px", type=count, help="camera image side given to act()")
    parser.add_argument("--repeats", type=count, default=10, help="timed repetitions")
    parser.add_argument("--threads", type=threads, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.checkpoint:
        learner, _ = load_learner(args.checkpoint)
    else:
        learner = Learner.create(ModelConfig(), MetaConfig(), seed=0)
    if args.inner_steps:
        learner.meta_config = replace(learner.meta_config, inner_steps=args.inner_steps)
    config = learner.model_config
    rng = np.random.default_rng(0)
    px, steps = config.image_px, config.episode_steps
    video = rng.integers(0, 256, (steps, px, px, 3), dtype=np.uint8)
    camera_px = args.camera_px or px
    image = rng.integers(0, 256, (camera_px, camera_px, 3), dtype=np.uint8)
    state = np.array([0.5, 0.0, 0.2, 0.04], np.float32)

    adapt_ms = median_ms(lambda: adapt_from_frames(learner, video), args.repeats)
    policy = adapt_from_frames(learner, video)
    act_ms = median_ms(lambda: policy.act(image, state), args.repeats * 10)
    print(
        f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}; model {px}x{px}, T={steps}, "
        f"inner steps {learner.meta_config.inner_steps}, camera {camera_px}px"
    )
    print(f"adapt (one human video): {adapt_ms:.1f} ms median of {args.repeats}")
    print(f"policy step (act):       {act_ms:.2f} ms median of {args.repeats * 10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("adapt_latency", main))
