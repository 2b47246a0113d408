"""The one-shot benchmark: every method on the same held-out variations and env reset seeds.

A unit is (task, method, variation): adapt once, then roll out each trial seed. Units run in
this process or in spawned workers (one env per task per worker, one torch thread each). The
env comes from an injected, picklable factory: must not import sim; cv2 only to write videos.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from daml.baselines import BenchVariation, Method, PolicyMaker
from daml.errors import ConfigError
from daml.evaluate import rollout

EnvFactory = Callable[[], Any]  # () -> env with reset/step/episode_steps/close; picklable


@dataclass(frozen=True)
class Trial:
    """One episode of a variation: its position in the benchmark order and env reset seed."""

    episode: int  # variation index * trials + trial (the same for every method)
    trial: int
    seed: int
    video: str | None = None  # side-by-side mp4 to write for this episode, if any


@dataclass
class BenchUnit:
    """What one worker call does: adapt `method` on `variation`, then roll out each trial."""

    task: str
    method: Method
    variation: BenchVariation
    trials: list[Trial]


@dataclass
class EpisodeOutcome:
    """One rolled-out episode (adaptation time shared equally by the variation's trials)."""

    task: str
    method: str
    variation: int
    trial: int
    seed: int
    success: bool
    steps: int
    seconds: float
    video: str | None = None


def trial_seeds(first_seed: int, trials: int) -> list[int]:
    """Env reset seeds of a variation's trials: trial 0 keeps `daml eval`'s seed, the others
    are drawn from it (same seeds for every method)."""
    rest = np.random.SeedSequence([first_seed, 7_919]).generate_state(max(trials - 1, 0))
    return [int(first_seed), *(int(s) for s in rest)]


def plan_units(
    task: str,
    methods: Sequence[Method],
    variations: Sequence[BenchVariation],
    trials: int,
    video_dir: Path | None = None,
    videos: int = 0,
) -> list[BenchUnit]:
    """Units for every method that runs x variation; the first `videos` episodes get videos
    at video_dir/<task>/<method>/<episode>_v<variation>_s<seed>.mp4."""
    if trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {trials}")
    units = []
    for method in methods:
        if method.not_run is not None:
            continue
        for variation in variations:
            planned = []
            for trial, seed in enumerate(trial_seeds(variation.reset_seed, trials)):
                episode = variation.index * trials + trial
                video = None
                if video_dir is not None and episode < videos:
                    name = f"{episode:04d}_v{variation.index}_s{seed}.mp4"
                    video = str(Path(video_dir) / task / method.name / name)
                planned.append(Trial(episode, trial, seed, video))
            units.append(BenchUnit(task, method, variation, planned))
    return units


@dataclass
class UnitRunner:
    """Runs units: one env per task (built on first use), checkpoints loaded once."""

    env_factories: dict[str, EnvFactory]
    fps: float
    policies: PolicyMaker = field(default_factory=PolicyMaker)
    envs: dict[str, Any] = field(default_factory=dict)

    def run(self, unit: BenchUnit) -> list[EpisodeOutcome]:
        if unit.task not in self.envs:
            self.envs[unit.task] = self.env_factories[unit.task]()
        env = self.envs[unit.task]
        if unit.method.checkpoint is not None:  # load outside the timed adaptation
            self.policies.learner(unit.method.checkpoint)
        started = time.perf_counter()
        policy_for_seed = self.policies.for_variation(unit.method, unit.variation)
        adapt_share = (time.perf_counter() - started) / len(unit.trials)
        outcomes = []
        for trial in unit.trials:
            started = time.perf_counter()
            policy = policy_for_seed(trial.seed)
            success, steps, frames, _ = rollout(env, policy, unit.variation.variation, trial.seed)
            if trial.video is not None:
                self._write_video(trial.video, unit.variation.human_frames, np.stack(frames))
            seconds = adapt_share + time.perf_counter() - started
            outcomes.append(
                EpisodeOutcome(
                    unit.task,
                    unit.method.name,
                    unit.variation.index,
                    trial.trial,
                    trial.seed,
                    success,
                    steps,
                    seconds,
                    trial.video,
                )
            )
        return outcomes

    def _write_video(self, path: str, human: np.ndarray, robot: np.ndarray) -> None:
        from daml.montage import side_by_side
        from daml.video import write_video

        write_video(path, side_by_side(human, robot), self.fps)

    def close(self) -> None:
        for env in self.envs.values():
            env.close()
        self.envs.clear()


def run_units(
    units: Sequence[BenchUnit],
    env_factories: dict[str, EnvFactory],
    fps: float,
    workers: int = 1,
    progress: bool = True,
) -> list[EpisodeOutcome]:
    """All units' episodes sorted by (task, method, episode); workers > 1: spawned processes."""
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    total = sum(len(unit.trials) for unit in units)
    outcomes: list[EpisodeOutcome] = []
    with tqdm(total=total, desc="bench episodes", disable=not progress) as bar:
        for unit_outcomes in _outcomes(units, env_factories, fps, workers):
            outcomes.extend(unit_outcomes)
            bar.update(len(unit_outcomes))
    return sorted(outcomes, key=lambda o: (o.task, o.method, o.variation, o.trial))


def _outcomes(
    units: Sequence[BenchUnit], env_factories: dict[str, EnvFactory], fps: float, workers: int
) -> Iterator[list[EpisodeOutcome]]:
    if workers == 1:
        runner = UnitRunner(env_factories, fps)
        try:
            yield from map(runner.run, units)
        finally:
            runner.close()
        return
    context = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools
    with context.Pool(workers, initializer=_init_worker, initargs=(env_factories, fps)) as pool:
        yield from pool.imap_unordered(_run_in_worker, units)


_WORKER: UnitRunner | None = None


def _init_worker(env_factories: dict[str, EnvFactory], fps: float) -> None:
    global _WORKER
    torch.set_num_threads(1)  # the policy is small; several threads per worker only contend
    _WORKER = UnitRunner(env_factories, fps)


def _run_in_worker(unit: BenchUnit) -> list[EpisodeOutcome]:
    return _WORKER.run(unit)
