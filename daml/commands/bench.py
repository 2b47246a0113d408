"""Benchmark DAML against its baselines, one-shot, on held-out (test-split) objects in the sim.

Examples:
    daml bench --episodes 4
    daml bench --checkpoint runs/{task}/best.pt --task all --variations 20 --trials 3
    daml bench --checkpoint runs/pp/best.pt --mil-checkpoint runs/pp_mil/best.pt \\
        --bc-checkpoint runs/pp_bc/best.pt --task pick_place --data data/pick_place_test \\
        --variations 50 --trials 2 --workers 2 --out runs/bench_pp --videos 4

Methods, on identical variations and env seeds: DAML (adapt on the human video), robot-demo
adaptation (MIL oracle: the --mil-checkpoint, else the DAML checkpoint with a BC inner step on
the robot demo), no adaptation (DAML theta), behaviour cloning (--bc-checkpoint; "not run"
without one) and a random policy. Checkpoint and --data paths may contain {task}; without
--checkpoint the shipped daml/pretrained/{task}.pt is used (and {task}_mil.pt / {task}_bc.pt
if shipped). --out gets report.md, report.json, success_rates.png and videos/ (side by side:
human video | robot rollout, the first --videos episodes of each method). The report also pairs
DAML with every other method on the same episodes: the episodes only one of the two solved and
the exact McNemar p-value.
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np

from daml.commands import check_count, seed
from daml.errors import ConfigError, DataError

DEFAULT_VARIATIONS, DEFAULT_TRIALS = 10, 2
MAX_DEMO_ATTEMPTS = 10  # robot demos of a sampled variation that fail are re-seeded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="DAML meta checkpoint (default: shipped model)")
    parser.add_argument("--mil-checkpoint", help="checkpoint trained with inner_source robot_demo")
    parser.add_argument("--bc-checkpoint", help="checkpoint trained with meta.inner_steps 0")
    parser.add_argument("--task", default="all", help="pick_place | push | all (default all)")
    parser.add_argument("--variations", type=int, help="held-out variations per task (default 10)")
    parser.add_argument("--trials", type=int, help="env reset seeds per variation (default 2)")
    parser.add_argument(
        "--episodes", type=int, help="episodes per method and task (= variations x trials)"
    )
    parser.add_argument("--data", help="test-split dataset dir (daml collect); may hold {task}")
    parser.add_argument("--split", default="test", help="object split (default test)")
    parser.add_argument("--workers", type=int, default=1, help="parallel rollout processes")
    parser.add_argument("--out", default="runs/bench", help="report dir (default runs/bench)")
    parser.add_argument("--videos", type=int, default=2, help="episodes per method with videos")
    parser.add_argument("--seed", type=seed, default=0, help="seeds variations and env resets")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def run(args: argparse.Namespace) -> int:
    import torch

    import sim
    from daml.baselines import benchmark_methods
    from daml.bench import plan_units, run_units, trial_seeds
    from daml.bench_report import summarise, write_report
    from daml.output_path import check_output_folder

    torch.set_num_threads(1)
    variations, trials = episode_counts(args.variations, args.trials, args.episodes)
    if args.workers < 1 or args.videos < 0:
        # checked before the variations are rendered (seconds per task), not after
        raise ConfigError(
            f"--workers must be >= 1 and --videos >= 0, got {args.workers}, {args.videos}"
        )
    if args.task != "all" and args.task not in sim.TASKS:
        raise ConfigError(f"--task must be one of {(*sim.TASKS, 'all')}, got {args.task!r}")
    tasks = list(sim.TASKS) if args.task == "all" else [args.task]
    out = check_output_folder(args.out)  # before the rollouts, not after them
    methods_by_task, units, factories, sources, planned, fps = {}, [], {}, {}, {}, 10.0
    for task in tasks:
        methods = benchmark_methods(task, *_checkpoints(args, task))
        cases = _cases(sim, args, task, variations, methods[0].checkpoint)
        task_variations = bench_variations(sim, cases, args.seed, not args.no_progress)
        methods_by_task[task], sources[task] = methods, cases.name
        factories[task] = functools.partial(sim.make_env, task, cases.env_config)
        fps = float(cases.env_config.control_hz)
        planned[task] = [
            [v.index, seed] for v in task_variations for seed in trial_seeds(v.reset_seed, trials)
        ]
        units += plan_units(task, methods, task_variations, trials, out / "videos", args.videos)
    started = time.perf_counter()
    outcomes = run_units(units, factories, fps, args.workers, not args.no_progress)
    settings = {
        "variations": variations, "trials": trials, "seed": args.seed, "split": args.split,
        "workers": args.workers, "wall_seconds": time.perf_counter() - started,
        "sources": sources, "episodes": planned,
    }  # fmt: skip
    report = summarise(methods_by_task, outcomes, settings)
    paths = write_report(report, out)
    print(paths["md"].read_text(), end="")
    print(f"-> {paths['md']}, {paths['json']}, {paths['png']}")
    return 0


def episode_counts(variations: int | None, trials: int | None, episodes: int | None) -> tuple:
    """(variations, trials) per task; --episodes E: E variations x 1 trial (or E / --trials)."""
    if episodes is None:
        variations = DEFAULT_VARIATIONS if variations is None else variations
        trials = DEFAULT_TRIALS if trials is None else trials
    elif variations is not None:
        raise ConfigError("pass either --episodes or --variations, not both")
    else:
        trials = 1 if trials is None else trials
        if episodes < 1 or trials < 1 or episodes % trials:
            raise ConfigError(f"--episodes {episodes} must be a positive multiple of --trials")
        variations = episodes // trials
    return check_count("--variations", variations), check_count("--trials", trials)


def _checkpoints(args: argparse.Namespace, task: str) -> tuple:
    """(DAML, MIL or None, BC or None) paths for `task`; {task} is filled in."""
    from daml.shipped import pretrained_checkpoint

    def given(value: str | None) -> str | None:
        return None if value is None else value.replace("{task}", task)

    daml = given(args.checkpoint)
    if daml is None:
        daml = pretrained_checkpoint(task)
        if not daml.is_file():
            raise DataError(
                f"no shipped model {daml}; pass --checkpoint runs/NAME/best.pt (train one with "
                f"`daml collect --task {task} ...` and `daml train ...`)"
            )
    shipped = {v: pretrained_checkpoint(task, v) for v in ("mil", "bc")}
    defaults = {v: str(p) if args.checkpoint is None and p.is_file() else None
                for v, p in shipped.items()}  # fmt: skip
    mil = given(args.mil_checkpoint) or defaults["mil"]
    bc = given(args.bc_checkpoint) or defaults["bc"]
    return daml, mil, bc


def _cases(sim, args: argparse.Namespace, task: str, count: int, checkpoint: str):
    """The held-out variations as `daml eval` draws them (its DatasetCases / SimCases)."""
    from daml.adapt import load_learner
    from daml.commands.eval import DatasetCases, SimCases

    if args.data is None:
        model = load_learner(checkpoint)[1].model
        env_config = sim.EnvConfig(image_px=model.image_px, episode_steps=model.episode_steps)
        return SimCases(task, args.split, count, args.seed, env_config)
    root = args.data.replace("{task}", task)
    cases = DatasetCases(sim, root, count, args.seed)
    manifest = cases.dataset.manifest
    if (manifest.task, manifest.split) != (task, args.split):
        raise ConfigError(
            f"--data {root} holds {manifest.task}/{manifest.split} episodes; the benchmark needs "
            f"{task}/{args.split} (use {{task}} in --data with --task all)"
        )
    if len(cases) < count:
        raise ConfigError(f"--data {root} has {len(cases)} episodes; fewer than {count} asked")
    return cases


def bench_variations(sim, cases, seed: int, progress: bool) -> list:
    """BenchVariations from eval cases: the dataset's robot demo, or one rendered by the expert."""
    from tqdm import tqdm

    from daml.baselines import BenchVariation

    dataset = getattr(cases, "dataset", None)
    env = None if dataset is not None else sim.make_env(cases.task, cases.env_config)
    result = []
    try:
        bar = tqdm(cases, total=len(cases), desc=f"{cases.task} variations", disable=not progress)
        for index, case in enumerate(bar):
            if dataset is not None:
                episode = dataset[index]
                robot = (episode.robot_frames, episode.robot_states, episode.robot_actions)
            else:
                robot = _robot_demo(sim, env, case.variation, seed, index)
            result.append(
                BenchVariation(
                    index, case.name, case.variation, case.human_frames, *robot, case.reset_seed
                )
            )
    finally:
        if env is not None:
            env.close()
    return result


def _robot_demo(sim, env, variation, seed: int, index: int) -> tuple:
    for attempt in range(MAX_DEMO_ATTEMPTS):
        demo_seed = np.random.SeedSequence([seed, index, attempt, 2_000_003]).generate_state(1)[0]
        demo = sim.robot_demo(env, variation, seed=int(demo_seed))
        if demo["success"]:
            return demo["frames"], demo["states"], demo["actions"]
    raise DataError(
        f"the scripted expert failed {MAX_DEMO_ATTEMPTS} times on {variation.task} variation "
        f"{index}; the simulator is broken"
    )
