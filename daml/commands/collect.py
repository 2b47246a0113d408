"""Collect robot + human demonstrations for one task and split into a dataset directory.

Examples:
    daml collect --task pick_place --variations 1000 --split train --workers 2 --out data/pick_place
    daml collect --task push --variations 50 --split test --out data/push_test --image-px 64
    daml collect --task push --variations 4000 --out data/push_dart --action-noise 0.2
    daml collect --task push --variations 1000 --seed 61 --out data/push_dagger \\
        --dagger daml/pretrained/push.pt
    daml collect --task pick_place --variations 2000 --seed 67 --descent-steps 8 --labels replan \\
        --out data/pick_place_dagger --dagger daml/pretrained/pick_place.pt

Episode k is seeded from (--seed, k): the dataset is the same whatever --workers is, and a
killed run re-started with the same arguments continues where it stopped.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daml.commands import check_count, seed
from daml.commands.collect_folder import (
    Attempts,
    ensure_writable,
    missing_episodes,
    print_summary,
    remove_stale_temp_files,
)
from daml.errors import ConfigError, DataError

if TYPE_CHECKING:
    from daml.dagger import DaggerSource

MAX_EXPERT_ATTEMPTS = 20  # failed expert demos are re-sampled, never saved
MISS_RANGE_M = (0.025, 0.045)  # --grasp-miss: how far off the first grasp is aimed (uniform);
# the learner's missed grasps close 2-4 cm off the target's centre (docs/BENCHMARKS.md)
DESCENT_STEPS = 2  # sim.experts.DESCENT_STEPS (kept here: the CLI must not import sim to parse)
MISS_STREAM = 0x3155  # fourth seed word of the per-attempt missed-grasp draw
_WORKER_ENV: dict = {}  # per worker process: (task, image_px) -> env, built once


@dataclass(frozen=True)
class CollectJob:
    """What one worker needs to produce episode `index`."""

    task: str
    split: str
    seed: int
    image_px: int
    index: int
    out: str
    action_noise: float = 0.0
    grasp_miss: float = 0.0
    descent_steps: int = DESCENT_STEPS
    push_retries: int = 0
    dagger: DaggerSource | None = None
    labels: str = "plan"
    human_takes: int = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="task family: pick_place or push")
    parser.add_argument("--split", default="train", help="object split: train, val or test")
    parser.add_argument("--variations", type=int, required=True, help="episodes to collect")
    parser.add_argument("--out", required=True, help="dataset directory (created or resumed)")
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    parser.add_argument("--seed", type=seed, default=0, help="base seed; episode k uses (seed, k)")
    parser.add_argument("--image-px", type=int, default=64, help="camera image size (square)")
    parser.add_argument(
        "--action-noise",
        type=float,
        default=0.0,
        help="DART noise: std of Gaussian noise (action units) added to the robot expert's "
        "executed motion; recorded actions stay the clean corrective ones (default 0)",
    )
    parser.add_argument(
        "--grasp-miss",
        type=float,
        default=0.0,
        help=f"pick_place: the fraction of robot demos that aim their first grasp "
        f"{100 * MISS_RANGE_M[0]:g}-{100 * MISS_RANGE_M[1]:g} cm off the target and then show "
        "the recovery (open, rise, grasp again); recorded actions are the expert's clean ones "
        "(default 0)",
    )
    parser.add_argument(
        "--descent-steps",
        type=int,
        default=DESCENT_STEPS,
        help="pick_place: steps the robot expert takes for its last 10 cm down onto the grasp "
        f"where the episode leaves time (default {DESCENT_STEPS}, which the plan's speed makes "
        "3); more give the demos more frames with the hand near the object. Human demos keep "
        "the default",
    )
    parser.add_argument(
        "--push-retries",
        type=int,
        default=0,
        help="push: how many times a robot demo that loses its target (the pusher passed it or "
        "slid beside it, or the push ended off the goal) lifts, goes behind the target again "
        "and pushes once more, where the episode leaves time; pairs with --action-noise to "
        "show recoveries, or with --dagger to label a learner's lost push with the retry "
        "(default 0)",
    )
    parser.add_argument(
        "--dagger",
        metavar="CHECKPOINT",
        help="DAgger: this meta checkpoint, adapted on each variation's human video, drives the "
        "robot episode, and the expert's actions for the states it reaches are recorded as the "
        "labels; its failed rollouts are kept (default: the expert drives)",
    )
    parser.add_argument(
        "--labels",
        choices=("plan", "replan"),
        default="plan",
        help="the robot demos' recorded actions: the expert's plan from the episode's start, step "
        "by step (plan), or, pick_place only, the expert re-planned from the scene at every step "
        "(replan: right for a --dagger learner's states, e.g. a missed grasp is grasped again)",
    )
    parser.add_argument(
        "--human-takes",
        type=int,
        default=1,
        metavar="K",
        help="human videos per variation: the first as ever, then K-1 more by other "
        "demonstrator runs (each its own look, start, camera and light jitter); meta-training "
        "adapts on one drawn per step (train.human_takes). On an existing --out, episodes with "
        "fewer takes get the missing ones added; nothing else in them changes (default 1)",
    )
    parser.add_argument(
        "--repair",
        action="store_true",
        help="move corrupt episodes to <out>/corrupt/ and re-collect them instead of stopping",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    import sim
    from daml import __version__
    from daml.dagger import DaggerSource
    from daml.data import EPISODES_DIR, Manifest

    sim.check_task(args.task)
    sim.check_split(args.split)
    check_count("--variations", args.variations)
    check_count("--human-takes", args.human_takes)
    for name in ("workers", "image_px"):
        if getattr(args, name) <= 0:
            raise ConfigError(
                f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}"
            )
    if not (math.isfinite(args.action_noise) and 0.0 <= args.action_noise <= 1.0):
        raise ConfigError(f"--action-noise must be in [0, 1], got {args.action_noise}")
    if not (math.isfinite(args.grasp_miss) and 0.0 <= args.grasp_miss <= 1.0):
        raise ConfigError(f"--grasp-miss must be in [0, 1], got {args.grasp_miss}")
    if args.grasp_miss > 0 and args.task != "pick_place":
        raise ConfigError(f"--grasp-miss is for pick_place; task {args.task!r} has no grasp")
    if args.descent_steps < 1:
        raise ConfigError(f"--descent-steps must be >= 1, got {args.descent_steps}")
    if args.descent_steps != DESCENT_STEPS and args.task != "pick_place":
        raise ConfigError(f"--descent-steps is for pick_place; task {args.task!r} has no grasp")
    if args.push_retries < 0:
        raise ConfigError(f"--push-retries must be >= 0, got {args.push_retries}")
    if args.push_retries > 0 and args.task != "push":
        raise ConfigError(f"--push-retries is for push; task {args.task!r} pushes nothing")
    if args.dagger and args.grasp_miss > 0:
        raise ConfigError("--grasp-miss executes a missed grasp; --dagger's learner drives")
    if args.labels == "replan" and (args.task != "pick_place" or args.grasp_miss > 0):
        raise ConfigError("--labels replan is for pick_place without --grasp-miss")

    with sim.make_env(args.task, sim.EnvConfig(image_px=args.image_px)) as env:
        episode_steps, control_hz = env.episode_steps, env.config.control_hz
    dagger = DaggerSource.open(args.dagger, args.task) if args.dagger else None
    if dagger is not None:
        dagger.check_fits(args.image_px, episode_steps)
    out = Path(args.out)  # (created only once every argument has passed)
    ensure_writable(out)
    manifest = Manifest(
        task=args.task,
        split=args.split,
        variations=args.variations,
        seed=args.seed,
        image_px=args.image_px,
        control_hz=control_hz,
        episode_steps=episode_steps,
        object_ids=list(sim.object_split(args.split)),
        look_split=args.split,
        action_noise=args.action_noise,
        grasp_miss=args.grasp_miss,
        descent_steps=args.descent_steps,
        push_retries=args.push_retries,
        dagger_sha256=dagger.sha256 if dagger else "",
        dagger_checkpoint=dagger.checkpoint if dagger else "",
        expert_labels=args.labels,
        human_masks=True,
        daml_version=__version__,
    )
    if (out / "manifest.json").exists():
        previous = Manifest.load(out)
        differing = previous.differences(manifest)
        if differing:
            there = ", ".join(f"{key}={getattr(previous, key)}" for key in differing)
            asked = ", ".join(f"{key}={getattr(manifest, key)}" for key in differing)
            raise DataError(
                f"{out} holds a different collection ({there}; asked for {asked}); "
                "choose another --out"
            )
        if previous.human_takes > args.human_takes:
            raise ConfigError(
                f"{out} holds {previous.human_takes} human takes per episode; pass "
                f"--human-takes {previous.human_takes} (or more) to add to it"
            )
        manifest.variations = max(manifest.variations, previous.variations)
        manifest.human_masks = previous.human_masks  # older episodes there have no masks
        manifest.human_takes = previous.human_takes  # until the missing takes are added
    manifest.save(out)
    remove_stale_temp_files(out / EPISODES_DIR)

    todo, short = missing_episodes(out, args.variations, args.human_takes, repair=args.repair)
    common = (args.task, args.split, args.seed, args.image_px)
    options = (args.action_noise, args.grasp_miss, args.descent_steps, args.push_retries)

    def jobs_for(indices: list[int]) -> list[CollectJob]:
        return [
            CollectJob(*common, i, str(out), *options, dagger, args.labels, args.human_takes)
            for i in indices
        ]

    jobs, take_jobs = jobs_for(todo), jobs_for(short)
    started = time.perf_counter()
    attempts = _run_jobs(jobs, args.workers, progress=not args.no_progress)
    added = _run_jobs(take_jobs, args.workers, not args.no_progress, add_episode_takes, "takes")
    manifest.human_takes = args.human_takes
    manifest.save(out)
    seconds = time.perf_counter() - started
    print_summary(out, args.variations, len(jobs), attempts, seconds, (sum(added), len(short)))
    return 0


def collect_episode(job: CollectJob) -> Attempts:
    """Produce and save episode `job.index`; returns the failed samples it took on the way."""
    import numpy as np

    import sim
    from daml.dagger import learner_rollout
    from daml.data import Episode, episode_path, save_episode
    from daml.human_takes import render_takes, with_takes

    env = _worker_env(job)
    robot_failures = human_failures = 0
    options = {"action_noise": job.action_noise, "descent_steps": job.descent_steps,
               "push_retries": job.push_retries, "labels": job.labels}  # fmt: skip
    for attempt in range(MAX_EXPERT_ATTEMPTS):
        rng = np.random.default_rng(np.random.SeedSequence([job.seed, job.index, attempt]))
        variation = sim.sample_variation(job.task, job.split, rng)
        robot_seed, human_seed = (int(s) for s in rng.integers(0, 2**31 - 1, size=2))
        look = sim.sample_look(job.split, rng)  # (the rng's last draw: the same look as ever)
        miss_m = _miss_distance(job, attempt)
        if job.dagger is None:  # the expert drives; its failed demos are re-sampled
            robot = sim.robot_demo(env, variation, seed=robot_seed, miss_m=miss_m, **options)
            if not robot["success"]:
                robot_failures += 1
                continue
        human = sim.human_demo(env, variation, look, seed=human_seed)
        if not human["success"]:
            human_failures += 1
            continue
        if job.dagger is not None:  # the learner drives, adapted on this human video
            robot = learner_rollout(
                sim, env, variation, robot_seed, human["frames"], job.dagger, **options
            )
        episode = Episode(
            robot_frames=robot["frames"],
            robot_states=robot["states"],
            robot_actions=robot["actions"],
            human_frames=human["frames"],
            human_masks=human["avatar_masks"],
            variation={
                "variation": variation.to_dict(),
                "look": look.to_dict(),
                "robot_seed": robot_seed,
                "human_seed": human_seed,
                "attempts": attempt + 1,
                "miss_m": miss_m,
                "retried": robot["retried"],
                "index": job.index,
                **({"policy_success": robot["success"]} if job.dagger else {}),
            },
        )
        if job.human_takes > 1:
            takes = range(1, job.human_takes)
            episode = with_takes(
                episode, *render_takes(env, job.split, job.seed, job.index, variation, takes)
            )
        save_episode(episode_path(Path(job.out), job.index), episode)
        policy_success = bool(robot["success"]) if job.dagger else None
        return Attempts(robot_failures, human_failures, bool(robot["retried"]), policy_success)
    raise DataError(
        f"{MAX_EXPERT_ATTEMPTS} sampled variations in a row failed for episode {job.index} of "
        f"task {job.task} (robot expert {robot_failures}, human-like demo {human_failures}); "
        "the simulator or object pool is broken"
    )


def add_episode_takes(job: CollectJob) -> int:
    """Give the saved episode `job.index` job.human_takes human videos; returns how many were
    added."""
    from daml.data import episode_path
    from daml.human_takes import add_takes

    path = episode_path(Path(job.out), job.index)
    return add_takes(_worker_env(job), path, job.split, job.seed, job.index, job.human_takes)


def _worker_env(job: CollectJob):
    """This worker's env for the job's task and image size, built on first use."""
    import sim

    key = (job.task, job.image_px)
    if key not in _WORKER_ENV:
        _WORKER_ENV[key] = sim.make_env(job.task, sim.EnvConfig(image_px=job.image_px))
    return _WORKER_ENV[key]


def _miss_distance(job: CollectJob, attempt: int) -> float:
    """How far off (metres) this attempt's first grasp is aimed: 0 unless job.grasp_miss draws
    it, from its own stream, so datasets without --grasp-miss are unchanged."""
    import numpy as np

    if job.grasp_miss == 0.0:
        return 0.0
    rng = np.random.default_rng([job.seed, job.index, attempt, MISS_STREAM])
    if rng.uniform() >= job.grasp_miss:
        return 0.0
    return float(rng.uniform(*MISS_RANGE_M))


def _run_jobs(
    jobs: list[CollectJob],
    workers: int,
    progress: bool = True,
    work: Callable[[CollectJob], Any] | None = None,
    desc: str = "collect",
) -> list[Any]:
    """`work` (default collect_episode) on every job, in `workers` processes; its results."""
    from tqdm import tqdm

    work = work or collect_episode
    results: list[Any] = []
    if not jobs:
        return results
    with tqdm(
        total=len(jobs), desc=desc, unit="episode", smoothing=0.05, disable=not progress
    ) as bar:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                results.append(work(job))
                bar.update()
            return results
        # spawn: workers start clean (no inherited pybullet clients or torch threads)
        context = multiprocessing.get_context("spawn")
        with context.Pool(processes=min(workers, len(jobs))) as pool:
            for result in pool.imap_unordered(work, jobs):
                results.append(result)
                bar.update()
    return results
