"""Adapt the shipped model from a sample human video and run it in the sim (offline, CPU).

Examples:
    daml demo
    daml demo --task push --out runs/demo_push
    daml demo --video my_demo.mp4 --checkpoint runs/pp/best.pt
    daml demo --task push --video take0.mp4 take1.mp4 take2.mp4   # takes of one scene, averaged
    daml demo --make-sample --task pick_place        # (maintainers) render the shipped sample

The sample video (daml/pretrained/<task>_human_demo.mp4) shows the sim's human-like
demonstrator on a fixed test-split variation (objects and avatar look never seen in training);
<video>.json next to it names that variation, which the robot then gets in the sim. A video
from `daml record --sim` gets the variation it shows too (its <stem>.json sidecar names it);
for any other video the robot gets the fixed test variation. Several videos are takes of one
demo (`daml record --sim --take K` renders more of a sim scene): each adapts the model and the
adapted weights are averaged, as `daml adapt --video A B C` does; takes whose sidecars name
different scenes are refused. Writes <task>_rollout.mp4 and <task>_side_by_side.mp4 (the first
human video | robot rollout) to --out and prints whether the robot succeeded.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from daml.commands import apply_mode_options
from daml.errors import DataError

# Options that only one mode reads (and their defaults); the other's are refused.
MODE_OPTIONS = {
    "--make-sample": {"image_px": 64},  # the shipped samples' size
    "the demo run": {"video": None, "checkpoint": None},
}
DEMO_SEED = 2018  # seeds the fixed test variation (through `daml eval`'s SimCases)
DEMO_SPLIT = "test"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", default="pick_place", help="pick_place | push")
    parser.add_argument("--video", nargs="+", help="human demo video or image folder (default: "
                        "the shipped sample); several takes of one scene are averaged")  # fmt: skip
    parser.add_argument("--checkpoint", help="meta checkpoint (default: the shipped model)")
    parser.add_argument("--out", help="output dir (default runs/demo; with --make-sample: "
                        "the package's daml/pretrained)")  # fmt: skip
    parser.add_argument(
        "--make-sample", action="store_true", help="render the sample human video and exit"
    )
    parser.add_argument("--image-px", type=int, help="--make-sample: video size (default 64)")


def run(args: argparse.Namespace) -> int:
    import sim

    sim.check_task(args.task)  # before _inputs, whose hints would name the task
    apply_mode_options(args, "--make-sample" if args.make_sample else "the demo run", MODE_OPTIONS)
    if args.make_sample:
        return make_sample(sim, args.task, args.image_px, args.out)
    return run_demo(sim, args, *_inputs(args))


def fixed_test_case(sim, task: str, env_config):
    """The demo's variation and its human video: `daml eval`'s first test case for DEMO_SEED."""
    from daml.commands.eval import SimCases

    return next(iter(SimCases(task, DEMO_SPLIT, 1, DEMO_SEED, env_config)))


def make_sample(sim, task: str, image_px: int, out: str | None) -> int:
    """Render <out>/<task>_human_demo.mp4 and its .json sidecar (the variation it shows)."""
    from daml.output_path import write_bytes_atomic
    from daml.shipped import PRETRAINED_DIR, sample_human_video, sample_sidecar
    from daml.video import write_video

    env_config = sim.EnvConfig(image_px=image_px)
    case = fixed_test_case(sim, task, env_config)
    video = Path(out or PRETRAINED_DIR) / sample_human_video(task).name
    write_video(video, case.human_frames, env_config.control_hz)
    sidecar = {
        "task": task, "split": DEMO_SPLIT, "seed": DEMO_SEED, "image_px": image_px,
        "control_hz": env_config.control_hz, "variation": case.variation.to_dict(),
        "reset_seed": case.reset_seed, "made_by": "daml demo --make-sample",
    }  # fmt: skip
    write_bytes_atomic(sample_sidecar(video), json.dumps(sidecar, indent=2).encode())
    print(f"wrote {video} ({len(case.human_frames)} frames, {image_px}px) and its .json")
    return 0


def run_demo(sim, args: argparse.Namespace, checkpoint: Path, videos: list[Path]) -> int:
    """Adapt on the video(s), roll out in the sim on the videos' variation, write the mp4s."""
    import time

    import numpy as np
    import torch

    from daml.adapt import adapt_from_video, load_learner
    from daml.checkpoint import check_task, load_checkpoint
    from daml.evaluate import rollout
    from daml.montage import side_by_side
    from daml.output_path import check_output_file
    from daml.video import read_video, write_video

    started = time.perf_counter()
    torch.set_num_threads(1)
    loaded = load_checkpoint(checkpoint, kind="meta")
    check_task(loaded, args.task, str(checkpoint))
    learner, config = load_learner(loaded)
    env_config = sim.EnvConfig(
        image_px=config.model.image_px, episode_steps=config.model.episode_steps
    )
    variation, reset_seed, origin = _variation(sim, args.task, videos, env_config)
    out = Path(args.out or "runs/demo")  # both videos' paths checked before the rollout
    rollout_path, both_path = (
        check_output_file(out / f"{args.task}_{name}.mp4") for name in ("rollout", "side_by_side")
    )
    policy = adapt_from_video(learner, videos)
    with sim.make_env(args.task, env_config) as env:
        success, steps, frames, _ = rollout(env, policy, variation, reset_seed)
    rollout_path = write_video(rollout_path, np.stack(frames), env_config.control_hz)
    montage = side_by_side(read_video(videos[0]).frames, np.stack(frames))
    both = write_video(both_path, montage, env_config.control_hz)
    takes = f", {len(videos)} videos averaged" if len(videos) > 1 else ""
    print(
        f"{args.task}: {'SUCCESS' if success else 'failure'} after {steps} steps "
        f"(adapted on {policy.info['source']}{takes} in {policy.info['adapt_ms']:.0f} ms; "
        f"variation: {origin}; "
        f"{time.perf_counter() - started:.1f} s)\n-> {rollout_path}\n-> {both}"
    )
    return 0


def _inputs(args: argparse.Namespace) -> tuple[Path, list[Path]]:
    """(checkpoint, videos): the given ones or the shipped ones; DataError says how to get them."""
    from daml.shipped import pretrained_checkpoint, sample_human_video

    checkpoint = Path(args.checkpoint) if args.checkpoint else pretrained_checkpoint(args.task)
    if not checkpoint.is_file():
        raise DataError(
            f"no model at {checkpoint}; train one (`daml collect --task {args.task} --split train "
            f"--out data/{args.task}` then `daml train --data data/{args.task} --out runs/NAME`) "
            "and pass --checkpoint runs/NAME/best.pt"
        )
    videos = (
        [Path(video) for video in args.video] if args.video else [sample_human_video(args.task)]
    )
    for video in videos:
        if not video.exists():  # a file or an image folder (daml.video reads both)
            hint = (
                "pass a video file or an image folder"
                if args.video
                else f"pass --video PATH or render the sample with `daml demo --make-sample "
                f"--task {args.task}`"
            )
            raise DataError(f"no human video at {video}; {hint}")
    return checkpoint, videos


def _variation(sim, task: str, videos: list[Path], env_config) -> tuple:
    """(variation, env reset seed, where it came from) of the scene the videos show.

    Each video's scene comes from the sample's <video>.json, else from a `daml record --sim`
    sidecar (<stem>.json: the robot gets `daml eval`'s case of that split, seed and variation
    index); a camera or file recording shows no sim scene. Takes that name scenes must name the
    same one; with none, the robot gets the fixed test variation.
    """
    found = None
    for video in videos:
        scene = _scene_of(sim, video)
        if scene is None:
            continue
        if scene[0].task != task:
            raise DataError(
                f"{video} shows a {scene[0].task} variation; pass --task {scene[0].task}"
            )
        if found is not None and scene[:2] != found[:2]:  # (Variation, reset seed)
            raise DataError(
                f"{video} shows another scene than {found[2]}; several videos must be takes of "
                "one scene (`daml record --sim --take K` renders more takes of a sim scene)"
            )
        found = found or scene
    if found is None:
        case = fixed_test_case(sim, task, env_config)
        return case.variation, case.reset_seed, f"fixed {DEMO_SPLIT} variation (seed {DEMO_SEED})"
    return found


def _scene_of(sim, video: Path) -> tuple | None:
    """(Variation, reset seed, origin) that `video`'s sidecar names, or None (no sim scene)."""
    from daml.record import sidecar_path
    from daml.shipped import sample_sidecar

    if sample_sidecar(video).is_file():
        return _read_sidecar(sim, sample_sidecar(video), "a sample description", _sample_scene)
    if sidecar_path(video).is_file():
        return _read_sidecar(sim, sidecar_path(video), "a `daml record` sidecar", _recorded_scene)
    return None


def _read_sidecar(sim, path: Path, what: str, scene) -> tuple | None:
    """(Variation, reset seed, origin) from scene(json of path), or None; DataError if bad."""
    try:
        found = scene(json.loads(path.read_text()), path)
        return None if found is None else (sim.Variation.from_dict(found[0]), *found[1:])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise DataError(f"{path} is not {what} ({error}); delete it") from error


def _sample_scene(raw: dict, path: Path) -> tuple:
    return raw["variation"], int(raw["reset_seed"]), str(path)


def _recorded_scene(raw: dict, path: Path) -> tuple | None:
    """The eval case a `daml record --sim` video shows; None for camera / file recordings."""
    from daml.commands.eval import case_reset_seed

    source = raw["source"]
    if source["kind"] != "sim":
        return None
    seed, index = int(source["seed"]), int(source["variation_index"])
    origin = f"{path}: {source['split']} variation {index} (seed {seed})"
    return source["variation"], case_reset_seed(seed, index), origin
