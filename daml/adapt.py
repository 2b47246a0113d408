"""Test time: one human video -> adapted policy phi; AdaptedPolicy.act drives an arm step by step.

Several videos of one task adapt one policy each, and the adapted weights are averaged (the step
of the mean of their inner gradients): the adaptation then depends less on any one video.

Must not import sim; reads video files only through daml.video and resizes images with OpenCV,
both imported lazily.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from daml import ACTION_DIM, STATE_DIM
from daml.checkpoint import (
    Checkpoint,
    check_kind,
    checkpoint_task,
    load_checkpoint,
    save_checkpoint,
)
from daml.config import RunConfig, TrainConfig
from daml.errors import ConfigError, DataError
from daml.meta import Learner, Params, adapt, build_model, normalise_states, policy_pass
from daml.torch_setup import resolve_device


@dataclass
class AdaptedPolicy:
    """pi_phi: the meta-trained policy after adapting on one human video.

    Attributes:
        config: the run config of the meta-trained learner (model sizes, state normaliser).
        params: adapted theta (encoder + policy), on `device`.
        info: JSON-able notes (source checkpoint, its task where known, video, adaptation time).
    """

    config: RunConfig
    params: Params
    info: dict[str, Any] = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self) -> None:
        self.model = build_model(self.config.model)
        self.params = {k: v.detach().to(self.device) for k, v in self.params.items()}

    @property
    def image_px(self) -> int:
        """Side of the square RGB image the policy sees (others are centre-cropped + resized)."""
        return self.config.model.image_px

    @property
    def episode_steps(self) -> int:
        """T: control steps per episode the policy was trained for."""
        return self.config.model.episode_steps

    def act(self, image: np.ndarray, state: np.ndarray) -> np.ndarray:
        """One control step.

        Args:
            image: uint8 (H, W, 3) RGB camera image (any size).
            state: float32 (4,) [ee_x, ee_y, ee_z, gripper_opening] in metres.

        Returns:
            float32 (4,) [dx, dy, dz] in [-1, 1] and gripper +1 (close) / -1 (open).
        """
        frames = prepare_frames(np.asarray(image)[None], self.image_px, what="image")
        state = np.asarray(state, dtype=np.float32)
        if state.shape != (STATE_DIM,) or not np.isfinite(state).all():
            raise DataError(f"state must be {STATE_DIM} finite floats, got {state!r}")
        with torch.inference_mode():
            states = normalise_states(
                torch.from_numpy(state)[None].to(self.device), self.model.config
            )
            out = policy_pass(self.model, self.params, frames.to(self.device), states)
        action = np.empty(ACTION_DIM, dtype=np.float32)
        action[:3] = out.motion[0].clamp(-1.0, 1.0).cpu().numpy()
        action[3] = 1.0 if float(out.gripper_logit[0]) > 0 else -1.0
        return action

    def save(self, path: str | Path) -> None:
        """Write phi + config as an 'adapted' checkpoint, atomically."""
        save_checkpoint(path, Checkpoint("adapted", self.config, self.params, info=self.info))


def prepare_frames(frames: np.ndarray, image_px: int, what: str = "frames") -> torch.Tensor:
    """uint8 (N, H, W, 3) RGB -> uint8 (N, 3, image_px, image_px).

    Other sizes are centre-cropped to a square and resized with OpenCV INTER_AREA, as
    daml.video.load_demo_frames does for human videos (cv2 is imported only then).
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or not len(frames):
        raise DataError(
            f"{what} must be uint8 RGB of shape (H, W, 3) per frame, got {frames.dtype} "
            f"{frames.shape[1:] if frames.ndim else frames.shape}"
        )
    height, width = frames.shape[1:3]
    if (height, width) != (image_px, image_px):
        import cv2

        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        frames = np.stack(
            [
                cv2.resize(
                    frame[top : top + side, left : left + side],
                    (image_px, image_px),
                    interpolation=cv2.INTER_AREA,
                )
                for frame in frames
            ]
        )
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)


def resample_frames(frames: np.ndarray, steps: int) -> np.ndarray:
    """(N, ...) -> (steps, ...) at uniform indices over the clip (frames repeat if N < steps)."""
    indices = np.floor(np.linspace(0, len(frames) - 1, steps) + 0.5).astype(np.int64)
    return frames[indices]


def load_learner(
    checkpoint: str | Path | Checkpoint | Learner, device: str | torch.device = "cpu"
) -> tuple[Learner, RunConfig]:
    """A meta-trained Learner and its run config from a checkpoint path, a loaded meta
    Checkpoint, or a Learner (as is)."""
    if isinstance(checkpoint, Learner):
        return checkpoint, RunConfig(checkpoint.model_config, checkpoint.meta_config, TrainConfig())
    device = resolve_device(device)
    if isinstance(checkpoint, Checkpoint):
        check_kind(checkpoint.kind, "meta", "the loaded checkpoint")
        loaded = checkpoint
    else:
        loaded = load_checkpoint(checkpoint, kind="meta", map_location=device)
    return Learner(loaded.config.model, loaded.config.meta, loaded.params).to(device), loaded.config


def adapt_from_frames(
    checkpoint: str | Path | Checkpoint | Learner,
    frames: np.ndarray,
    device: str | torch.device = "cpu",
    source: str = "frames",
) -> AdaptedPolicy:
    """Adapt a meta-trained learner on one human demo.

    Args:
        checkpoint: path of a meta checkpoint (runs/NAME/best.pt), a loaded meta Checkpoint,
            or a Learner (used on the device its params are on).
        frames: uint8 (N, H, W, 3) RGB human demo, N >= 2; resampled to the model's T frames
            and centre-cropped/resized to its image size.
        device: where adaptation and the adapted policy run (ignored for a Learner).
        source: recorded in the policy's info (e.g. the video path).
    """
    return _adapt(*_learner_and_info(checkpoint, device, source), [frames])


def adapt_from_demos(
    checkpoint: str | Path | Checkpoint | Learner,
    demos: Sequence[np.ndarray],
    device: str | torch.device = "cpu",
    source: str = "frames",
) -> AdaptedPolicy:
    """Adapt on several human demos of ONE task: each adapts the learner, and the policy's
    weights are the mean of the adapted ones (one init and one learned step each, so this is
    the step of the mean of their inner gradients). With one demo it is adapt_from_frames.

    On 150 push validation scenes, three videos averaged this way succeeded in 91.6% of 450
    rollouts against 85.0% for one video (docs/BENCHMARKS.md, *Session 55*). Nothing checks
    that the demos show the same task: demos of different tasks average into neither.

    Args:
        demos: uint8 (N_i, H_i, W_i, 3) RGB clips, N_i >= 2; each is resampled and resized as
            in adapt_from_frames.
    """
    return _adapt(*_learner_and_info(checkpoint, device, source), demos)


def adapt_from_video(
    checkpoint: str | Path | Checkpoint | Learner,
    video_path: str | Path | Sequence[str | Path],
    device: str | torch.device = "cpu",
) -> AdaptedPolicy:
    """Adapt on a video file (or image folder) decoded by daml.video.load_demo_frames; given
    several paths (takes of one task), on all of them as adapt_from_demos does."""
    from daml.video import load_demo_frames

    paths = [video_path] if isinstance(video_path, (str, Path)) else list(video_path)
    if not paths:
        raise ConfigError("adapt_from_video needs at least one video path")
    source = " + ".join(str(path) for path in paths)
    learner, config, info = _learner_and_info(checkpoint, device, source)
    steps, image_px = config.model.episode_steps, config.model.image_px
    demos = [load_demo_frames(path, steps, image_px) for path in paths]  # all, before adapting
    return _adapt(learner, config, info, demos)


def _learner_and_info(
    checkpoint: str | Path | Checkpoint | Learner, device: str | torch.device, source: str
) -> tuple[Learner, RunConfig, dict[str, Any]]:
    """load_learner's (learner, config), and what an adapted policy records of where it came
    from: the checkpoint's path, its task where known, and `source` (the demo)."""
    info: dict[str, Any] = {"checkpoint": "", "source": source}
    if isinstance(checkpoint, (str, Path)):
        info["checkpoint"] = str(checkpoint)
        checkpoint = load_checkpoint(checkpoint, kind="meta", map_location=device)
    task = checkpoint_task(checkpoint) if isinstance(checkpoint, Checkpoint) else None
    if task is not None:
        info["task"] = task
    return *load_learner(checkpoint, device), info


def adapt_from_robot_demo(
    checkpoint: str | Path | Checkpoint | Learner,
    frames: np.ndarray,
    states: np.ndarray,
    actions: np.ndarray,
    device: str | torch.device = "cpu",
    source: str = "robot demo",
) -> AdaptedPolicy:
    """Adapt by the BC inner step on one robot demo with actions (the MIL oracle baseline).

    Uses the checkpoint's inner steps and learning rates with meta.inner_source="robot_demo",
    whatever source it was meta-trained with (a DAML checkpoint adapts on BC that way too).

    Args:
        frames: uint8 (T, H, W, 3) robot camera frames; T must equal the model's episode_steps.
        states: float32 (T, 4) robot states; actions: float32 (T, 4) expert actions.
    """
    learner, config, info = _learner_and_info(checkpoint, device, source)
    steps = config.model.episode_steps
    states, actions = np.asarray(states, np.float32), np.asarray(actions, np.float32)
    if len(frames) != steps or states.shape != (steps, 4) or actions.shape != (steps, 4):
        raise DataError(
            f"a robot demo for this model needs {steps} frames, states (T, 4) and actions (T, 4); "
            f"got {len(frames)} frames, states {states.shape}, actions {actions.shape}"
        )
    if not (np.isfinite(states).all() and np.isfinite(actions).all()):
        raise DataError("a robot demo's states and actions must be finite; got NaN or inf")
    meta_config = replace(learner.meta_config, inner_source="robot_demo")
    device = next(iter(learner.params.values())).device
    robot = prepare_frames(np.asarray(frames), config.model.image_px).to(device)
    demo = (torch.from_numpy(states).to(device), torch.from_numpy(actions).to(device))
    _import_torch_func_dependencies()
    started = time.perf_counter()
    adapted = adapt(learner.model, learner.params, robot, meta_config, *demo)
    info = {**info, "adapt_ms": (time.perf_counter() - started) * 1e3}
    return AdaptedPolicy(config, adapted, info, device)


def _adapt(
    learner: Learner, config: RunConfig, info: dict[str, Any], demos: Sequence[np.ndarray]
) -> AdaptedPolicy:
    """One adapted policy from one or more human demos (the mean of their adapted weights)."""
    if isinstance(demos, np.ndarray) or not len(demos):
        raise DataError("expected a list of one or more human demos (N, H, W, 3)")
    meta_config = learner.meta_config
    if meta_config.inner_source == "robot_demo" and meta_config.inner_steps > 0:
        raise ConfigError(
            f"checkpoint {info['checkpoint'] or '(learner)'} adapts from a robot demo with actions "
            "(meta.inner_source='robot_demo'), not a human video; use "
            "daml.adapt.adapt_from_robot_demo (as `daml bench` does)"
        )
    device = next(iter(learner.params.values())).device
    steps, image_px = config.model.episode_steps, config.model.image_px
    clips = []
    for number, frames in enumerate(demos, 1):
        frames = np.asarray(frames)
        if frames.ndim != 4 or len(frames) < 2:
            which = f" (demo {number} of {len(demos)})" if len(demos) > 1 else ""
            raise DataError(
                f"a human demo needs >= 2 frames (N, H, W, 3), got shape {frames.shape}{which}"
            )
        clips.append(prepare_frames(resample_frames(frames, steps), image_px).to(device))
    _import_torch_func_dependencies()
    started = time.perf_counter()
    adapted = [adapt(learner.model, learner.params, human, meta_config) for human in clips]
    averaged = adapted[0]
    if len(adapted) > 1:
        averaged = {
            name: torch.stack([params[name] for params in adapted]).mean(dim=0) for name in averaged
        }
    info = {**info, "adapt_ms": (time.perf_counter() - started) * 1e3}
    if len(clips) > 1:
        info["demos"] = len(clips)
    return AdaptedPolicy(config, averaged, info, device)


def load_adapted(path: str | Path, device: str | torch.device = "cpu") -> AdaptedPolicy:
    """An AdaptedPolicy saved by AdaptedPolicy.save / `daml adapt` ("auto", "cpu", "cuda")."""
    device = resolve_device(device)
    loaded = load_checkpoint(path, kind="adapted", map_location=device)
    return AdaptedPolicy(loaded.config, loaded.params, loaded.info, device)


def _import_torch_func_dependencies() -> None:
    """torch.func's grad imports torch._dynamo on its first call (measured: 1.3-1.9 s on the
    2-core dev box, once per process); done here, so that info["adapt_ms"] times the inner step
    itself (~30 ms) and not a one-time import."""
    import torch._dynamo  # noqa: F401
