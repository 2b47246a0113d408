"""Record or prepare a human demo video: from a camera, cut from a file, or rendered in the sim.

Examples:
    daml record --camera 0 --seconds 5 --fps 15 --out demos/my_demo.mp4
    daml record --from-file phone.mp4 --start 1.2 --end 4.0 --fps 15 --size 256 --out demos/cut.mp4
    daml record --from-file phone.mp4 --crop 200,80,720,720 --size 128 --out demos/cut.mp4
    daml record --from-file frames/ --source-fps 10 --out demos/from_images.mp4
    daml record --sim --task pick_place --variation 3 --split test --seed 0 --out demos/sim.mp4
    daml record --sim --task pick_place --variation 3 --take 1 --out demos/sim_take1.mp4

Each video gets a JSON sidecar next to it (demos/my_demo.json: fps, size, frames, duration,
source, time). The camera shows a live preview with the countdown where a display and an
OpenCV GUI exist (space starts early / stops, q cancels or stops); otherwise it records for
--seconds (Ctrl-C stops early and keeps what was recorded).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from daml.commands import apply_mode_options, seed
from daml.errors import ConfigError, DataError

# Each source's own options and their defaults; given with another source, they are refused.
SOURCE_OPTIONS = {
    "--camera": {"seconds": 5.0, "countdown": 3.0},
    "--from-file": {"start": 0.0, "end": None, "source_fps": None},
    "--sim": {
        "task": "pick_place",
        "variation": 0,
        "split": "test",
        "seed": 0,
        "image_px": 64,
        "take": 0,
    },
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--camera", type=int, metavar="INDEX", help="record camera INDEX (0, 1..)")
    source.add_argument("--from-file", metavar="PATH", help="cut a video file or image folder")
    source.add_argument("--sim", action="store_true", help="render the sim's human-like avatar")
    parser.add_argument("--out", required=True, help="output video (.mp4, .avi, .mov, .mkv)")
    parser.add_argument("--fps", type=float, help="output frame rate (camera default 15)")
    parser.add_argument("--size", type=int, help="centre-crop to a square and resize to SIZE px")
    parser.add_argument("--crop", type=_parse_crop, help="x,y,w,h region (source pixels) to keep")
    camera = parser.add_argument_group("--camera")
    camera.add_argument("--seconds", type=float, help="recording length (default 5)")
    camera.add_argument("--countdown", type=float, help="seconds before it starts (default 3)")
    from_file = parser.add_argument_group("--from-file")
    from_file.add_argument("--start", type=float, help="cut start, seconds (default 0)")
    from_file.add_argument("--end", type=float, help="cut end, seconds (default: end of clip)")
    from_file.add_argument("--source-fps", type=float, help="frame rate of an image folder")
    sim_group = parser.add_argument_group("--sim")
    sim_group.add_argument("--task", help="pick_place (default) or push")
    sim_group.add_argument("--variation", type=int, help="variation index K (default 0)")
    sim_group.add_argument("--split", help="object split: train, val or test (default)")
    sim_group.add_argument("--seed", type=seed, help="variation K uses seeds (seed, K) (default 0)")
    sim_group.add_argument("--image-px", type=int, help="sim camera size, square (default 64)")
    sim_group.add_argument("--take", type=int, help="another video of the same scene: take K >= 1 "
                           "has its own avatar look and demonstrator seed (default 0: the video "
                           "`daml eval` adapts on)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from daml.record import sidecar_path

    if args.camera is not None and args.camera < 0:
        raise ConfigError(f"--camera must be a camera index >= 0, got {args.camera}")
    sidecar = sidecar_path(args.out)  # (its folder is the video's, which the writer checks)
    if sidecar.is_dir():
        raise DataError(
            f"{sidecar} is a folder; the video's sidecar goes there: pick another --out"
        )
    if args.camera is not None:
        chosen, record = "--camera", _record_camera
    elif args.from_file is not None:
        chosen, record = "--from-file", _record_from_file
    else:
        chosen, record = "--sim", _record_sim
    apply_mode_options(args, chosen, SOURCE_OPTIONS)
    return record(args)


def _record_camera(args: argparse.Namespace) -> int:
    from daml.record import (
        CaptureSettings,
        NoPreview,
        WindowPreview,
        capture,
        display_available,
        open_camera,
        write_sidecar,
    )
    from daml.video_writer import AtomicVideoWriter

    settings = CaptureSettings(
        fps=args.fps if args.fps is not None else 15.0,
        seconds=args.seconds,
        countdown_s=args.countdown,
    )
    # The writer checks --out before the camera starts; an error or Ctrl-C leaves no file.
    with AtomicVideoWriter(args.out, settings.fps) as writer:
        camera = open_camera(args.camera)
        preview = WindowPreview() if display_available() else NoPreview()
        normalise = _CameraNormaliser(args.camera, args.crop, args.size)
        try:
            result = capture(
                camera, lambda f: writer.write(normalise(f)), settings, preview=preview
            )
        finally:
            camera.release()
            preview.close()
    width, height = writer.size
    write_sidecar(
        writer.path,
        {
            "fps": result.fps,
            "width": width,
            "height": height,
            "frames": result.frames,
            "duration_s": result.duration_s,
            "source": {
                "kind": "camera",
                "camera": args.camera,
                "stopped_by": result.stopped_by,
                "crop": args.crop,
                "size": args.size,
            },
        },
    )
    print(
        f"wrote {writer.path}: {result.frames} frames, {width}x{height}, "
        f"{result.duration_s:.2f} s at {result.fps:g} fps (stopped by {result.stopped_by})"
    )
    return 0


class _CameraNormaliser:
    """Applies --crop / --size to camera frames; built on the first frame, whose size it needs."""

    def __init__(self, camera: int, crop: tuple[int, int, int, int] | None, size: int | None):
        self.camera, self.crop, self.size = camera, crop, size
        self._normalise = None

    def __call__(self, frame):
        from daml.video import VideoInfo, frame_normaliser

        if self._normalise is None:
            height, width = frame.shape[:2]
            info = VideoInfo(
                path=Path(f"camera {self.camera}"),
                kind="camera",
                source_width=width,
                source_height=height,
                width=width,
                height=height,
                fps=1.0,
                fps_from_metadata=False,
                declared_frames=None,
            )
            self._normalise = frame_normaliser(info, crop=self.crop, size_px=self.size)
        return self._normalise(frame)


def _record_from_file(args: argparse.Namespace) -> int:
    from daml.record import write_sidecar
    from daml.trim import TrimSpec, trim_video

    spec = TrimSpec(
        start_s=args.start,
        end_s=args.end,
        fps=args.fps,
        size_px=args.size,
        crop=args.crop,
        source_fps=args.source_fps,
    )
    result = trim_video(args.from_file, args.out, spec)
    write_sidecar(
        result.path,
        {
            "fps": result.fps,
            "width": result.width,
            "height": result.height,
            "frames": result.frames,
            "duration_s": result.duration_s,
            "source": {
                "kind": "file",
                "path": str(result.source.path),
                "start_s": spec.start_s,
                "end_s": spec.end_s,
                "crop": spec.crop,
                "size": spec.size_px,
                "source_fps": result.source.fps,
                "source_fps_from_metadata": result.source.fps_from_metadata,
            },
        },
    )
    print(
        f"wrote {result.path}: {result.frames} frames, {result.width}x{result.height}, "
        f"{result.duration_s:.2f} s at {result.fps:g} fps"
    )
    return 0


def _record_sim(args: argparse.Namespace) -> int:
    import sim
    from daml.record import write_sidecar
    from daml.video import write_video

    if args.variation < 0:
        raise ConfigError(f"--variation must be >= 0, got {args.variation}")
    if args.take < 0:
        raise ConfigError(f"--take must be >= 0, got {args.take}")
    if args.crop is not None or args.size is not None:
        raise ConfigError("--crop and --size do not apply to --sim; use --image-px for the size")
    with sim.make_env(args.task, sim.EnvConfig(image_px=args.image_px)) as env:
        demo = _avatar_demo(sim, env, args.task, args.split, args.seed, args.variation, args.take)
        fps = args.fps if args.fps is not None else float(env.config.control_hz)
    frames = demo.pop("frames")
    path = write_video(args.out, frames, fps)
    write_sidecar(
        path,
        {
            "fps": fps,
            "width": int(frames.shape[2]),
            "height": int(frames.shape[1]),
            "frames": len(frames),
            "duration_s": len(frames) / fps,
            "source": {"kind": "sim", "task": args.task, "split": args.split, "seed": args.seed,
                       "variation_index": args.variation, "image_px": args.image_px, **demo},
        },
    )  # fmt: skip
    take = f", take {args.take}" if args.take else ""
    print(
        f"wrote {path}: {len(frames)} frames of the {args.task} avatar demo of {args.split} "
        f"variation {args.variation} (seed {args.seed}{take})"
    )
    return 0


def _avatar_demo(sim, env, task: str, split: str, seed: int, index: int, take: int = 0) -> dict:
    """Human-like demo of variation `index`: `daml eval --task`'s case `index` exactly
    (daml.commands.eval.sampled_human_demo), with variation and look as dicts. Take k >= 1 is
    another demonstrator run of that variation, with its own look and seed, drawn as
    `daml collect --human-takes` draws take k of an episode (daml.human_takes.render_takes,
    with the case's seed and index)."""
    from daml.commands.eval import MAX_DEMO_ATTEMPTS, sampled_human_demo
    from daml.human_takes import render_takes

    demo = sampled_human_demo(sim, env, task, split, seed, index)
    if demo is None:
        raise ConfigError(
            f"the sim avatar failed {MAX_DEMO_ATTEMPTS} sampled {task} variations in a row for "
            f"--variation {index}; try another --variation or --seed"
        )
    recorded = {**demo, "variation": demo["variation"].to_dict(), "look": demo["look"].to_dict()}
    if take == 0:
        return recorded
    # take 0 was rendered all the same: which variation case `index` is depends on whether its
    # human demo succeeded (sampled_human_demo re-draws a failed one)
    frames, _, (drawn,) = render_takes(
        env, split, seed, index, demo["variation"], range(take, take + 1)
    )
    return {**recorded, "frames": frames[0], "take": take, "look": drawn["look"],
            "human_seed": drawn["human_seed"], "take_attempts": drawn["attempts"]}  # fmt: skip


def _parse_crop(text: str) -> tuple[int, int, int, int]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"crop must be x,y,w,h integers, got {text!r}")
    return values
