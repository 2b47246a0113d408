"""One-shot evaluation: adapt on each held-out variation's human video, roll out, count successes.

Receives the env factory and the adaptation function as arguments (CleanRL style), so `daml eval`
and `daml bench` share it. Must not import sim (the env is whatever the factory returns).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from daml import OBS_IMAGE_KEY, OBS_STATE_KEY
from daml.errors import ConfigError


class Policy(Protocol):
    def act(self, image: np.ndarray, state: np.ndarray) -> np.ndarray: ...


@dataclass
class EvalCase:
    """One held-out variation to evaluate on.

    Attributes:
        name: shown in reports (e.g. the episode file or "test variation 3").
        variation: passed to env.reset(variation=...).
        human_frames: uint8 (T, H, W, 3) RGB human demo of that variation.
        reset_seed: env.reset seed (arm start jitter) for the rollout.
    """

    name: str
    variation: Any
    human_frames: np.ndarray
    reset_seed: int


@dataclass
class EpisodeResult:
    name: str
    success: bool
    steps: int
    adapt_ms: float
    act_ms: float  # mean policy step time
    video: str | None = None


@dataclass
class EvalReport:
    """Success rate with a 95% Wilson score interval over the evaluated variations."""

    episodes: list[EpisodeResult] = field(default_factory=list)

    @property
    def successes(self) -> int:
        return sum(e.success for e in self.episodes)

    @property
    def trials(self) -> int:
        return len(self.episodes)

    def to_dict(self) -> dict[str, Any]:
        low, high = wilson_interval(self.successes, self.trials)
        return {
            "successes": self.successes,
            "trials": self.trials,
            "success_rate": self.successes / self.trials if self.trials else float("nan"),
            "ci95_low": low,
            "ci95_high": high,
            "mean_adapt_ms": float(np.mean([e.adapt_ms for e in self.episodes] or [np.nan])),
            "mean_act_ms": float(np.mean([e.act_ms for e in self.episodes] or [np.nan])),
            "episodes": [asdict(e) for e in self.episodes],
        }


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (z = 1.96: 95%); (0, 1) if no trials."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def rollout(env, policy: Policy, variation: Any, reset_seed: int) -> tuple[bool, int, list, float]:
    """Run `policy` for env.episode_steps steps (or until the env ends the episode).

    Returns (info["success"] at the end, steps taken, frames uint8 (H, W, 3) seen, mean ms/act).
    """
    obs, info = env.reset(seed=reset_seed, variation=variation)
    frames, act_s, steps = [obs[OBS_IMAGE_KEY]], 0.0, 0
    for _ in range(env.episode_steps):
        started = time.perf_counter()
        action = policy.act(obs[OBS_IMAGE_KEY], obs[OBS_STATE_KEY])
        act_s += time.perf_counter() - started
        obs, _, terminated, truncated, info = env.step(action)
        frames.append(obs[OBS_IMAGE_KEY])
        steps += 1
        if terminated or truncated:
            break
    return bool(info["success"]), steps, frames, act_s * 1e3 / max(steps, 1)


def evaluate(
    env_factory: Callable[[], Any],
    adapt_fn: Callable[[np.ndarray], Policy],
    cases: Iterable[EvalCase],
    video_dir: str | Path | None = None,
    video_writer: Callable[[Path, np.ndarray], Any] | None = None,
    progress: bool = True,
) -> EvalReport:
    """Adapt on each case's human video, roll the adapted policy out, record success.

    Args:
        env_factory: () -> env with reset(seed, variation), step(action), episode_steps, close().
        adapt_fn: human frames uint8 (T, H, W, 3) -> policy with act(image, state).
        cases: the held-out variations (may be generated lazily).
        video_dir: if given, each rollout is written there as <index>_<success|failure>.mp4.
        video_writer: (path, frames uint8 (N, H, W, 3)) -> None; required with video_dir.
        progress: show a tqdm bar.
    """
    if video_dir is not None and video_writer is None:
        raise ConfigError("evaluate: video_dir needs a video_writer")
    report = EvalReport()
    env = env_factory()
    try:
        total = len(cases) if hasattr(cases, "__len__") else None
        for index, case in enumerate(tqdm(cases, total=total, desc="eval", disable=not progress)):
            started = time.perf_counter()
            policy = adapt_fn(case.human_frames)
            adapt_ms = (time.perf_counter() - started) * 1e3
            success, steps, frames, act_ms = rollout(env, policy, case.variation, case.reset_seed)
            video = None
            if video_dir is not None:
                outcome = "success" if success else "failure"
                path = Path(video_dir) / f"{index:04d}_{outcome}.mp4"
                video_writer(path, np.stack(frames))
                video = str(path)
            report.episodes.append(
                EpisodeResult(case.name, success, steps, adapt_ms, act_ms, video)
            )
    finally:
        env.close()
    return report
