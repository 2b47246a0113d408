"""Adapt a meta-trained checkpoint from one human video and save the adapted policy.

Examples:
    daml adapt --checkpoint runs/pp/best.pt --video demos/pick_red.mp4 --out adapted.pt
    daml adapt --checkpoint runs/pp/best.pt --video take1.mp4 take2.mp4 take3.mp4 --out adapted.pt
    daml adapt --checkpoint runs/pp/best.pt --episode data/pick_place_test/episodes/000001.npz \\
        --out adapted.pt

The video is decoded, centre-cropped, resized and resampled to the model's T frames
(daml.video.load_demo_frames); --episode uses the human demo stored in a dataset episode.
Several videos must show the same task (takes of one demo): each adapts the model and the
adapted weights are averaged, which depends less on any one take (on push validation scenes,
three takes: 91.6% success against 85.0% for one; docs/BENCHMARKS.md, Session 55).
Load the result in Python with daml.adapt.load_adapted("adapted.pt").act(image, state).
"""

from __future__ import annotations

import argparse

from daml.commands import add_policy_device_arguments
from daml.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="meta checkpoint (runs/NAME/best.pt)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--video",
        nargs="+",
        help="human demo video file (.mp4, ...) or image folder; several takes of one task are "
        "averaged",
    )
    source.add_argument("--episode", help="dataset episode .npz: adapt on its human demo")
    parser.add_argument("--out", required=True, help="adapted policy file to write (.pt)")
    add_policy_device_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from daml.adapt import adapt_from_frames, adapt_from_video
    from daml.data import load_episode
    from daml.output_path import check_output_file
    from daml.torch_setup import resolve_device, set_threads

    set_threads(args.threads)
    device = resolve_device(args.device)
    check_output_file(args.out)  # before the adaptation, not after it
    if args.video:
        policy = adapt_from_video(args.checkpoint, args.video, device)
    else:
        episode = load_episode(args.episode)
        policy = adapt_from_frames(args.checkpoint, episode.human_frames, device, args.episode)
        _check_episode_task(args.checkpoint, policy.info.get("task"), args.episode, episode)
    policy.save(args.out)
    task = f"{policy.info['task']} model, " if "task" in policy.info else ""
    takes = f" ({policy.info['demos']} videos averaged)" if "demos" in policy.info else ""
    print(
        f"adapted {args.checkpoint} on {policy.info['source']}{takes} in "
        f"{policy.info['adapt_ms']:.0f} ms -> {args.out} "
        f"({task}image {policy.image_px}px, {policy.episode_steps} steps)"
    )
    return 0


def _check_episode_task(checkpoint: str, trained_on: str | None, path: str, episode) -> None:
    """ConfigError if the episode at `path` (its record names its variation's task) is of
    another task than `checkpoint` was meta-trained on (before the policy is saved)."""
    variation = episode.variation.get("variation")
    shown = variation.get("task") if isinstance(variation, dict) else None
    if trained_on is not None and isinstance(shown, str) and shown != trained_on:
        raise ConfigError(
            f"{checkpoint} was meta-trained on {trained_on}, but episode {path} is a {shown} "
            f"demo; pass a {shown} checkpoint or a {trained_on} episode"
        )
