"""How much of the inner step is the clip? Per parameter tensor, the share of inner-gradient
elements at +-meta.inner_grad_clip, on real human videos, and what other clips would do.

The inner step is phi = theta - alpha * clip(grad_theta L_psi(theta, human video)). Where every
element of a tensor's gradient is beyond the clip, that tensor's step is alpha * clip * sign(g):
one bit per element about the video, whatever the video's details. For the first N episodes of
a dataset (the inner step on each human video, as in training), it prints per tensor: elements,
share clipped, median |g| and the learned alpha; then the mean validation BC loss after
adaptation on those episodes with the checkpoint's clip and with each --clips value (the same
weights, so it shows how much the trained model relies on the clip).

    python benchmarks/inner_step_saturation.py --checkpoint daml/pretrained/pick_place.pt \\
        --data data/pick_place_val --episodes 48 --clips 30 100 1000
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch
from torch.func import grad

from daml.adapt import load_learner
from daml.cli import run_reporting_errors
from daml.commands import count as count_type
from daml.copy_step import clip_bound, copy_steps
from daml.data import DemoDataset
from daml.meta import ALPHA_PREFIX, PSI_PREFIX, inner_objective, theta_of, validation_losses
from daml.meta_batch import MetaBatch


def clipped_shares(learner, batch: MetaBatch) -> dict[str, tuple[int, float, float]]:
    """name -> (elements, share of gradient elements at the clip, median |g|) over the batch."""
    psi = {k: v.detach() for k, v in learner.params.items() if k.startswith(PSI_PREFIX)}
    theta = {k: v.detach() for k, v in theta_of(learner.params).items()}
    clip, scales = learner.meta_config.inner_grad_clip, copy_steps(learner.model_config)
    counts: dict[str, list] = {name: [0, 0, []] for name in theta}
    for frames in batch.human_frames:  # the inner objective of training (grey video and all)
        loss = inner_objective(learner.model, psi, frames, None, None, learner.meta_config)
        grads = grad(loss)(theta)
        for name, g in grads.items():
            counts[name][0] += int((g.abs() >= clip_bound(clip, scales.get(name))).sum())
            counts[name][1] += g.numel()
            counts[name][2].append(g.abs().flatten())
    return {
        name: (total // len(batch.human_frames), at_clip / total, float(torch.cat(mags).median()))
        for name, (at_clip, total, mags) in counts.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="DAML meta checkpoint")
    parser.add_argument("--data", required=True, help="dataset dir (validation)")
    parser.add_argument("--episodes", type=count_type, default=48)
    parser.add_argument("--clips", type=float, nargs="*", default=[30.0, 100.0, 1000.0])
    args = parser.parse_args(argv)
    bad = [clip for clip in args.clips if not 0 < clip < float("inf")]
    if bad:
        parser.error(f"--clips must be positive numbers, got {bad[0]:g}")
    torch.set_num_threads(1)
    learner, _ = load_learner(args.checkpoint)
    if learner.meta_config.inner_source != "human_video" or learner.meta_config.inner_steps < 1:
        raise SystemExit(f"{args.checkpoint} does not adapt on a human video")
    dataset = DemoDataset(args.data)
    count = min(args.episodes, len(dataset))
    batch = MetaBatch.from_episodes([dataset[i] for i in range(count)])
    clip = learner.meta_config.inner_grad_clip
    print(f"{args.checkpoint}: inner step on {count} human videos of {args.data}, clip {clip:g}")
    print("| tensor | elements | at the clip | median abs grad | alpha |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (elements, share, median) in clipped_shares(learner, batch).items():
        alpha = float(learner.params[ALPHA_PREFIX + name].detach())
        print(f"| {name} | {elements} | {share:.1%} | {median:.3g} | {alpha:.3g} |")
    print("| inner_grad_clip | post-adaptation BC (mean) |")
    print("| ---: | ---: |")
    for value in [clip, *args.clips]:
        meta = replace(learner.meta_config, inner_grad_clip=value)
        losses = validation_losses(learner.model, learner.params, batch, meta)
        print(f"| {value:g} | {losses['post_bc']:.4f} |")
    print(f"(before adaptation: {losses['pre_bc']:.4f}; mean inner loss {losses['inner']:.0f})")


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("inner_step_saturation", main))
