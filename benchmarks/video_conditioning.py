"""Does adaptation use the human video? Open-loop action error on held-out robot demos.

For each of the first N episodes of a dataset, the policy adapted on that episode's human video,
the same policy adapted on *another* episode's video, and a plain-BC checkpoint predict the
robot demo's actions from its own frames and states; the table gives the mean squared error of
the x/y motion over the first K steps (the reach, where knowing the target matters most).
If adaptation carries task information, "own video" beats "other video".

    python benchmarks/video_conditioning.py --data data/push_val \
        --checkpoint daml/pretrained/push.pt --bc-checkpoint daml/pretrained/push_bc.pt
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from daml.adapt import adapt_from_frames
from daml.checkpoint import load_checkpoint
from daml.cli import run_reporting_errors
from daml.commands import count as count_type
from daml.data import DemoDataset


def xy_error(policy, episode, steps: int) -> float:
    """Mean squared x/y motion error of `policy` on the first `steps` steps of the robot demo."""
    predicted = np.stack(
        [
            policy.act(f, s)
            for f, s in zip(episode.robot_frames[:steps], episode.robot_states[:steps], strict=True)
        ]
    )
    return float(((predicted[:, :2] - episode.robot_actions[:steps, :2]) ** 2).mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="held-out dataset (val or test split)")
    parser.add_argument("--checkpoint", required=True, help="DAML meta checkpoint")
    parser.add_argument("--bc-checkpoint", required=True, help="plain-BC checkpoint")
    parser.add_argument("--episodes", type=count_type, default=16)
    parser.add_argument("--steps", type=count_type, default=8)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    dataset = DemoDataset(args.data)
    meta = load_checkpoint(args.checkpoint, kind="meta")  # both read once, before any work
    bc = load_checkpoint(args.bc_checkpoint, kind="meta")
    count = min(args.episodes, len(dataset))
    errors: dict[str, list[float]] = {"own video": [], "other video": [], "plain BC": []}
    for index in range(count):
        episode, other = dataset[index], dataset[(index + 1) % len(dataset)]
        policies = {
            "own video": adapt_from_frames(meta, episode.human_frames),
            "other video": adapt_from_frames(meta, other.human_frames),
            "plain BC": adapt_from_frames(bc, episode.human_frames),
        }
        for name, policy in policies.items():
            errors[name].append(xy_error(policy, episode, args.steps))
    print(f"{args.data}: {count} episodes, x/y motion MSE over the first {args.steps} steps")
    print("| policy | x/y motion MSE |")
    print("| --- | ---: |")
    for name, values in errors.items():
        label = {
            "own video": "DAML adapted on the episode's own human video",
            "other video": "DAML adapted on another episode's human video",
            "plain BC": "plain behaviour cloning (no adaptation)",
        }[name]
        print(f"| {label} | {np.mean(values):.4f} |")


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("video_conditioning", main))
