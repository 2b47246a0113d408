"""The benchmark's methods: DAML and its baselines, each turning a held-out variation into a policy.

DAML adapts on the human video; the MIL-style oracle adapts by a BC step on the robot demo; "no
adaptation" runs theta as is; plain BC runs a checkpoint trained with inner_steps = 0; "random"
samples uniform actions. Must not import sim or cv2 (the env is injected by daml.bench).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from daml import ACTION_DIM
from daml.adapt import AdaptedPolicy, adapt_from_frames, adapt_from_robot_demo, load_learner
from daml.checkpoint import check_task, load_checkpoint
from daml.config import MetaConfig
from daml.errors import ConfigError
from daml.evaluate import Policy
from daml.meta import Learner, theta_of

METHOD_NAMES = ("daml", "robot_demo", "no_adapt", "bc", "random")


@dataclass(frozen=True)
class Method:
    """One benchmarked method.

    Attributes:
        name: key in METHOD_NAMES.
        label: shown in the report (says which checkpoint and adaptation it uses).
        checkpoint: meta checkpoint path (None for "random" and for a method not run).
        not_run: why the method is not run (None: it runs).
    """

    name: str
    label: str
    checkpoint: str | None
    not_run: str | None = None


@dataclass
class BenchVariation:
    """One held-out variation with both of its demos.

    Attributes:
        index: position in the benchmark's variation list (the report's variation index).
        name: where it came from (episode file or "task/split/index").
        variation: passed to env.reset(variation=...).
        human_frames: uint8 (T, H, W, 3) human video (test-split avatar look).
        robot_frames: uint8 (T, H, W, 3), robot_states / robot_actions float32 (T, 4): the
            scripted expert's demo of the same variation (the oracle adapts on it).
        reset_seed: env.reset seed of trial 0 (the one `daml eval` uses).
    """

    index: int
    name: str
    variation: Any
    human_frames: np.ndarray
    robot_frames: np.ndarray
    robot_states: np.ndarray
    robot_actions: np.ndarray
    reset_seed: int


class RandomPolicy:
    """Uniform random actions: motion in [-1, 1]^3, gripper +-1 with equal odds (seeded)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, image: np.ndarray, state: np.ndarray) -> np.ndarray:
        action = self.rng.uniform(-1.0, 1.0, ACTION_DIM).astype(np.float32)
        action[3] = 1.0 if action[3] > 0 else -1.0
        return action


def benchmark_methods(
    task: str,
    checkpoint: str | Path,
    mil_checkpoint: str | Path | None,
    bc_checkpoint: str | Path | None,
) -> list[Method]:
    """The five methods on `task`, in report order; checks each checkpoint was trained for its
    role, and on `task` where it records its task (daml.checkpoint.check_task)."""
    checkpoint = str(checkpoint)
    daml_role = "DAML (meta.inner_source='human_video')"
    _check_role(task, checkpoint, "--checkpoint", _is_daml, daml_role)
    if mil_checkpoint is not None:
        mil_checkpoint = str(mil_checkpoint)
        mil_role = "meta.inner_source='robot_demo'"
        _check_role(task, mil_checkpoint, "--mil-checkpoint", _is_mil, mil_role)
        oracle = Method("robot_demo", "robot-demo adaptation (MIL checkpoint)", mil_checkpoint)
    else:
        oracle = Method(
            "robot_demo", "robot-demo adaptation (DAML checkpoint, BC inner step)", checkpoint
        )
    if bc_checkpoint is not None:
        bc_checkpoint = str(bc_checkpoint)
        _check_role(task, bc_checkpoint, "--bc-checkpoint", _is_bc, "meta.inner_steps=0")
        bc = Method("bc", "behaviour cloning (BC checkpoint)", bc_checkpoint)
    else:
        bc = Method("bc", "behaviour cloning", None, not_run="no --bc-checkpoint given")
    return [
        Method("daml", "DAML (ours): human video, learned temporal loss", checkpoint),
        oracle,
        Method("no_adapt", "no adaptation (DAML theta as is)", checkpoint),
        bc,
        Method("random", "random policy (uniform actions)", None),
    ]


def _is_daml(meta: MetaConfig) -> bool:
    return meta.inner_source == "human_video" and meta.inner_steps > 0


def _is_mil(meta: MetaConfig) -> bool:
    return meta.inner_source == "robot_demo" and meta.inner_steps > 0


def _is_bc(meta: MetaConfig) -> bool:
    return meta.inner_steps == 0


def _check_role(
    task: str, path: str, flag: str, fits: Callable[[MetaConfig], bool], wanted: str
) -> None:
    checkpoint = load_checkpoint(path, kind="meta")
    fix = f"pass a {task} checkpoint as {flag} (with --task all, put {{task}} in its path)"
    check_task(checkpoint, task, f"{flag} {path}", fix)
    meta = checkpoint.config.meta
    if not fits(meta):
        raise ConfigError(
            f"{flag} {path} was trained with meta.inner_source={meta.inner_source!r}, "
            f"meta.inner_steps={meta.inner_steps}; {flag} needs a checkpoint trained with {wanted}"
        )


class PolicyMaker:
    """Builds each method's policy for a variation; loads every checkpoint once (CPU)."""

    def __init__(self) -> None:
        self.learners: dict[str, Learner] = {}

    def learner(self, path: str) -> Learner:
        if path not in self.learners:
            self.learners[path] = load_learner(path, "cpu")[0]
        return self.learners[path]

    def for_variation(self, method: Method, variation: BenchVariation) -> Callable[[int], Policy]:
        """(method, variation) -> (trial seed -> policy); adaptation runs once, here."""
        if method.not_run is not None:
            raise ConfigError(f"method {method.name} is not run: {method.not_run}")
        if method.name == "random":
            return RandomPolicy
        learner = self.learner(method.checkpoint)
        if method.name == "daml":
            policy = adapt_from_frames(learner, variation.human_frames, source=variation.name)
        elif method.name == "robot_demo":
            policy = adapt_from_robot_demo(
                learner,
                variation.robot_frames,
                variation.robot_states,
                variation.robot_actions,
                source=variation.name,
            )
        elif method.name in ("no_adapt", "bc"):
            config = load_learner(learner)[1]
            policy = AdaptedPolicy(config, theta_of(learner.params), {"source": "theta"})
        else:
            raise ConfigError(f"unknown method {method.name!r}; expected one of {METHOD_NAMES}")
        return lambda seed: policy
