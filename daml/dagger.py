"""DAgger demos (Ross et al., 2011): a meta-trained learner drives the arm, the expert labels.

`daml collect --dagger CKPT` adapts CKPT on each variation's human video (exactly as
`daml eval` does), lets the adapted policy run the robot episode, and records the robot
expert's action for every state the policy reaches (`sim.robot_demo(..., execute=...)`). The
episodes show the learner's own mistakes with the expert's corrections, where plain and DART
demos show the expert's states only. Failed rollouts are kept: they are where the labels matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

_WORKER_LEARNERS: dict = {}  # per worker process: checkpoint path -> Learner, loaded once


@dataclass(frozen=True)
class DaggerSource:
    """Which meta checkpoint drives the robot: its path, the SHA-256 of its bytes, and the
    camera image size and episode length its model was trained for."""

    checkpoint: str
    sha256: str
    image_px: int
    episode_steps: int

    @classmethod
    def open(cls, path: str | Path, task: str) -> DaggerSource:
        """Check that `path` is a meta checkpoint (DataError if not) of `task` where it records
        its task (ConfigError if of another), and describe it."""
        from daml.checkpoint import check_task, load_checkpoint

        loaded = load_checkpoint(path, kind="meta")
        check_task(loaded, task, f"--dagger {path}", f"pass a {task} checkpoint as --dagger")
        model = loaded.config.model
        return cls(str(path), loaded.sha256, model.image_px, model.episode_steps)

    def check_fits(self, image_px: int, episode_steps: int) -> None:
        """ConfigError unless the collection's camera and episode are the model's."""
        from daml.errors import ConfigError

        if (image_px, episode_steps) != (self.image_px, self.episode_steps):
            raise ConfigError(
                f"--dagger {self.checkpoint} drives {self.image_px}px, {self.episode_steps}-step "
                f"episodes; this collection has {image_px}px, {episode_steps} steps "
                f"(pass --image-px {self.image_px})"
            )


def learner_rollout(
    sim, env, variation, seed: int, human_frames: np.ndarray, source: DaggerSource, **demo_options
) -> dict:
    """sim.robot_demo driven by the learner adapted on `human_frames` (uint8 (T, H, W, 3)).

    Returns robot_demo's dict: the policy's frames and states, the expert's actions as labels,
    and "success" of the policy's rollout.
    """
    import torch

    from daml.adapt import adapt_from_frames, load_learner
    from daml.checkpoint import load_checkpoint
    from daml.errors import DataError

    if source.checkpoint not in _WORKER_LEARNERS:
        torch.set_num_threads(1)  # one per collect worker; a pool uses the cores
        loaded = load_checkpoint(source.checkpoint, kind="meta")
        if loaded.sha256 != source.sha256:  # the manifest names the weights that drove
            raise DataError(f"--dagger {source.checkpoint} changed while collecting; re-run")
        _WORKER_LEARNERS[source.checkpoint] = load_learner(loaded)[0]
    policy = adapt_from_frames(_WORKER_LEARNERS[source.checkpoint], human_frames)

    def drive(obs: dict) -> np.ndarray:
        return policy.act(obs["image"], obs["state"])

    return sim.robot_demo(env, variation, seed=seed, execute=drive, **demo_options)
