"""One-shot success rate on held-out variations in the sim: adapt on each human video, roll out.

Examples:
    daml eval --checkpoint runs/pp/best.pt --data data/pick_place_test
    daml eval --checkpoint runs/pp/best.pt --task pick_place --split test --variations 50
    daml eval --checkpoint runs/pp/best.pt --data data/push_test --limit 20 \\
        --out runs/pp/eval_push.json --videos runs/pp/eval_videos

--data uses each episode's variation and stored human video; --task/--split/--variations
samples variations and renders their human videos on the fly (sim.human_demo). Success is
info["success"] after env.episode_steps steps. The JSON report holds the success rate, its 95%
Wilson interval and one record per episode.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from daml.commands import add_policy_device_arguments, apply_mode_options, check_count, seed
from daml.errors import ConfigError, DataError

MAX_DEMO_ATTEMPTS = 10  # human demos that fail are re-sampled, as `daml collect` does
# Options that only one case source reads (and their defaults); the other's are refused.
SOURCE_OPTIONS = {"--task": {"split": "test", "variations": 20}, "--data": {"limit": None}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="meta checkpoint (runs/NAME/best.pt)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="held-out dataset dir (daml collect --split test)")
    source.add_argument("--task", help="sample variations on the fly: pick_place | push")
    parser.add_argument("--split", help="object split with --task (default test)")
    parser.add_argument("--variations", type=int, help="variations with --task (default 20)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N episodes of --data")
    parser.add_argument("--seed", type=seed, default=0, help="seeds sampling and env resets")
    parser.add_argument("--out", help="JSON report (default: <checkpoint dir>/eval_<name>.json; "
                        "for a shipped model runs/eval_<model>_<name>.json)")  # fmt: skip
    parser.add_argument("--videos", help="write each rollout as an mp4 into this dir")
    add_policy_device_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    import sim
    from daml.adapt import adapt_from_frames, load_learner
    from daml.checkpoint import check_task, checkpoint_task, load_checkpoint
    from daml.evaluate import evaluate
    from daml.output_path import check_output_file, check_output_folder, write_bytes_atomic
    from daml.torch_setup import resolve_device, set_threads

    apply_mode_options(args, "--data" if args.data is not None else "--task", SOURCE_OPTIONS)
    if args.task is not None:
        sim.check_task(args.task)
    set_threads(args.threads)
    device = resolve_device(args.device)
    loaded = load_checkpoint(args.checkpoint, kind="meta", map_location=device)
    learner, config = load_learner(loaded, device)
    if args.data:
        cases = DatasetCases(sim, args.data, args.limit, args.seed)
    else:
        env_config = sim.EnvConfig(
            image_px=config.model.image_px, episode_steps=config.model.episode_steps
        )
        cases = SimCases(args.task, args.split, args.variations, args.seed, env_config)
    trained_on = checkpoint_task(loaded)
    data_fix = f"pass a {trained_on} dataset as --data or a {cases.task} checkpoint"
    check_task(loaded, cases.task, args.checkpoint, data_fix if args.data else "")
    out = check_output_file(args.out or default_out(args.checkpoint, cases.name))  # before rollouts
    if args.videos:
        check_output_folder(args.videos)
    report = evaluate(
        lambda: sim.make_env(cases.task, cases.env_config),
        lambda frames: adapt_from_frames(learner, frames),
        cases,
        video_dir=args.videos,
        video_writer=_video_writer(cases.env_config.control_hz) if args.videos else None,
        progress=not args.no_progress,
    )
    result = {
        "checkpoint": args.checkpoint,
        "checkpoint_sha256": loaded.sha256,  # the weights evaluated, not just the path
        "source": cases.name,
        **report.to_dict(),
    }
    write_bytes_atomic(out, json.dumps(result, indent=2).encode())
    print(
        f"success {report.successes}/{report.trials} = {result['success_rate']:.1%} "
        f"(95% CI {result['ci95_low']:.1%}-{result['ci95_high']:.1%}) -> {out}"
    )
    return 0


def default_out(checkpoint: str, source: str) -> Path:
    """<checkpoint dir>/eval_<source>.json; runs/eval_<model>_<source>.json for a shipped model
    (never into the installed package)."""
    from daml.shipped import PRETRAINED_DIR

    model, name = Path(checkpoint), Path(source).name
    if model.resolve().parent == PRETRAINED_DIR:
        return Path("runs") / f"eval_{model.stem}_{name}.json"
    return model.parent / f"eval_{name}.json"


class DatasetCases:
    """EvalCases from a dataset's episodes (variation + stored human demo), read lazily."""

    def __init__(self, sim, root: str, limit: int | None, seed: int) -> None:
        from daml.data import DemoDataset

        if limit is not None and limit < 1:
            raise ConfigError(f"--limit must be >= 1, got {limit}")
        self.dataset = DemoDataset(root)
        manifest = self.dataset.manifest
        self.task, self.name, self.seed = manifest.task, str(root), seed
        self.count = len(self.dataset) if limit is None else min(limit, len(self.dataset))
        self.env_config = sim.EnvConfig(
            image_px=manifest.image_px,
            control_hz=int(manifest.control_hz),
            episode_steps=manifest.episode_steps,
        )

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator:
        import sim
        from daml.evaluate import EvalCase

        for index in range(self.count):
            episode = self.dataset[index]
            yield EvalCase(
                name=self.dataset.paths[index].name,
                variation=sim.Variation.from_dict(episode.variation["variation"]),
                human_frames=episode.human_frames,
                reset_seed=case_reset_seed(self.seed, index),
            )


class SimCases:
    """EvalCases sampled on the fly: variation, avatar look and human demo from the sim.

    `look(rng)` draws the avatar look from the case's generator; None: sim.sample_look of
    `split` (benchmarks/avatar_look_shift.py passes looks from other hue bands).
    """

    def __init__(self, task: str, split: str, count: int, seed: int, env_config, look=None) -> None:
        check_count("--variations", count)
        self.task, self.split, self.count, self.seed = task, split, count, seed
        self.env_config, self.name, self.look = env_config, f"{task}_{split}", look

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator:
        import sim
        from daml.evaluate import EvalCase

        with sim.make_env(self.task, self.env_config) as env:
            for index in range(self.count):
                variation, frames = self._demo(sim, env, index)
                yield EvalCase(
                    f"{self.task}/{self.split}/{index}", variation, frames,
                    case_reset_seed(self.seed, index),
                )  # fmt: skip

    def _demo(self, sim, env, index: int) -> tuple[object, np.ndarray]:
        demo = sampled_human_demo(sim, env, self.task, self.split, self.seed, index, self.look)
        if demo is None:
            raise DataError(
                f"the human demonstrator failed {MAX_DEMO_ATTEMPTS} sampled {self.task} "
                f"variations in a row (variation {index}); the simulator is broken"
            )
        return demo["variation"], demo["frames"]


def sampled_human_demo(
    sim, env, task: str, split: str, seed: int, index: int, look=None
) -> dict | None:
    """The human-like demo of case `index`: {"frames" uint8 (T, H, W, 3), "variation",
    "look", "human_seed", "attempt"}, or None if MAX_DEMO_ATTEMPTS attempts all failed.

    Attempt a draws from SeedSequence([seed, index, a]) the variation, then the avatar look
    (`look(rng)`, default sim.sample_look of `split`), then the avatar's seed; a failed demo is
    re-sampled. `daml record --sim` renders its videos with this too, so its variation K is
    this case K exactly.
    """
    for attempt in range(MAX_DEMO_ATTEMPTS):
        rng = np.random.default_rng(np.random.SeedSequence([seed, index, attempt]))
        variation = sim.sample_variation(task, split, rng)
        drawn = look(rng) if look else sim.sample_look(split, rng)
        human_seed = int(rng.integers(2**31 - 1))
        human = sim.human_demo(env, variation, drawn, seed=human_seed)
        if human["success"]:
            return {"frames": human["frames"], "variation": variation, "look": drawn,
                    "human_seed": human_seed, "attempt": attempt}  # fmt: skip
    return None


def case_reset_seed(seed: int, index: int) -> int:
    """env.reset seed of case `index` (also `daml demo`'s for a `record --sim` video): independent
    of the demo's seeds."""
    return int(np.random.SeedSequence([seed, index, 1_000_003]).generate_state(1)[0])


def _video_writer(fps: float):
    from daml.video import write_video

    return lambda path, frames: write_video(path, frames, fps)
