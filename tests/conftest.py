"""Shared fixtures: tiny learner configs, a tiny synthetic-but-learnable demo dataset,
index-coded video frames, an in-process `daml collect` and the benchmark scripts as modules.

The synthetic task family: two coloured squares (red, green) at random places; the robot must
move its end effector to the target square and close the gripper there. The robot camera shows
both squares, so the target is ambiguous without the human video, which shows only the target
square and a "hand" moving to it. Adapting on the video is therefore the only way to know where
to go.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from daml.config import MetaConfig, ModelConfig, RunConfig, TrainConfig
from daml.data import Episode, Manifest
from tests.dataset_files import save_dataset

# The dev box has 2 shared cores: two OpenMP threads on a busy core spin-wait and run ~5x
# slower than one, and the tiny test models gain nothing from a second thread.
torch.set_num_threads(1)

TINY_PX = 16
TINY_T = 8
SQUARE_COLORS = np.array([[230, 40, 40], [40, 220, 40]], dtype=np.uint8)
HAND_COLOR = np.array([230, 200, 60], dtype=np.uint8)
EE_COLOR = np.array([255, 255, 255], dtype=np.uint8)
EE_STEP = 0.12  # end-effector travel per unit action, in the unit square
GRASP_RADIUS = 0.08


def _draw(image: np.ndarray, xy: np.ndarray, color: np.ndarray, radius: int) -> None:
    px = image.shape[0]
    cx, cy = (int(round(v * (px - 1))) for v in xy)
    image[max(cy - radius, 0) : cy + radius + 1, max(cx - radius, 0) : cx + radius + 1] = color


def render_robot_view(squares: np.ndarray, ee: np.ndarray, image_px: int) -> np.ndarray:
    """uint8 (px, px, 3): both squares and the end effector (a white dot)."""
    image = np.full((image_px, image_px, 3), 20, np.uint8)
    for k in range(2):
        _draw(image, squares[k], SQUARE_COLORS[k], 1)
    _draw(image, ee, EE_COLOR, 0)
    return image


def synthetic_episode(rng: np.random.Generator, image_px: int, steps: int) -> Episode:
    """One variation of the two-squares task (frames (T, px, px, 3) uint8)."""
    target = int(rng.integers(2))
    squares = rng.uniform(0.15, 0.85, (2, 2))
    while np.linalg.norm(squares[0] - squares[1]) < 0.35:
        squares = rng.uniform(0.15, 0.85, (2, 2))
    ee = rng.uniform(0.1, 0.9, 2)
    robot_frames, human_frames, human_masks, states, actions = [], [], [], [], []
    grip = -1.0  # the state shows the opening left by the previous action
    for _ in range(steps):
        states.append([ee[0], ee[1], 0.0, 0.0 if grip > 0 else 0.04])
        delta = squares[target] - ee
        move = np.clip(delta / EE_STEP, -1.0, 1.0)
        grip = 1.0 if np.linalg.norm(delta) < GRASP_RADIUS else -1.0
        actions.append([move[0], move[1], 0.0, grip])
        robot_frames.append(render_robot_view(squares, ee, image_px))
        human = np.full((image_px, image_px, 3), 60, np.uint8)
        _draw(human, squares[target], SQUARE_COLORS[target], 1)
        hand = np.zeros((image_px, image_px, 3), np.uint8)
        _draw(hand, ee + rng.normal(0.0, 0.02, 2), HAND_COLOR, 1)
        mask = hand.any(axis=-1)
        human[mask] = HAND_COLOR
        human_frames.append(human)
        human_masks.append(mask)
        ee = ee + move * EE_STEP
    return Episode(
        robot_frames=np.stack(robot_frames),
        robot_states=np.asarray(states, np.float32),
        robot_actions=np.asarray(actions, np.float32),
        human_frames=np.stack(human_frames),
        variation={"target": target, "squares": squares.tolist()},
        human_masks=np.stack(human_masks),
    )


class SquaresEnv:
    """The two-squares task as an env (the daml obs/action contract), for rollouts in tests.

    reset(variation={"target", "squares"}) places the squares; success: the end effector ends
    within SUCCESS_RADIUS of the target square (reaching; the gripper is scored by BC loss).
    """

    SUCCESS_RADIUS = 0.1

    def __init__(self, image_px: int = TINY_PX, episode_steps: int = TINY_T) -> None:
        self.image_px, self.episode_steps = image_px, episode_steps
        self.closed = False

    def reset(self, seed: int | None = None, variation: dict | None = None):
        rng = np.random.default_rng(seed)
        self.target = int(variation["target"])
        self.squares = np.asarray(variation["squares"], dtype=np.float64)
        self.ee, self.grip, self.steps = rng.uniform(0.1, 0.9, 2), -1.0, 0
        return self._obs(), self._info()

    def step(self, action: np.ndarray):
        action = np.asarray(action, dtype=np.float32)
        assert action.shape == (4,) and np.isfinite(action).all()
        self.ee = self.ee + np.clip(action[:2], -1.0, 1.0) * EE_STEP
        self.grip, self.steps = float(action[3]), self.steps + 1
        info = self._info()
        return self._obs(), float(info["success"]), False, self.steps >= self.episode_steps, info

    def close(self) -> None:
        self.closed = True

    def _obs(self) -> dict[str, np.ndarray]:
        state = np.array([*self.ee, 0.0, 0.0 if self.grip > 0 else 0.04], dtype=np.float32)
        return {"image": render_robot_view(self.squares, self.ee, self.image_px), "state": state}

    def _info(self) -> dict:
        near = np.linalg.norm(self.ee - self.squares[self.target]) < self.SUCCESS_RADIUS
        return {"success": bool(near)}


def write_synthetic_dataset(
    root: Path,
    variations: int,
    seed: int,
    split: str = "train",
    image_px: int = TINY_PX,
    steps: int = TINY_T,
    masks: bool = True,
    task: str = "push",
) -> Path:
    """A dataset dir in the daml format holding `variations` synthetic episodes (with the
    hand's pixel masks unless `masks` is False, as in datasets of older daml versions), labelled
    as `task`'s."""
    manifest = Manifest(
        task=task,
        split=split,
        variations=variations,
        seed=seed,
        image_px=image_px,
        control_hz=10.0,
        episode_steps=steps,
        human_masks=masks,
    )
    rng = np.random.default_rng(seed)
    episodes = [synthetic_episode(rng, image_px, steps) for _ in range(variations)]
    if not masks:
        for episode in episodes:
            episode.human_masks = None
    return save_dataset(root, manifest, episodes)


@pytest.fixture
def synthetic_dataset() -> Callable[..., Path]:
    """Factory: synthetic_dataset(root, variations, seed, split=..., task=...) -> root."""
    return write_synthetic_dataset


@pytest.fixture(scope="session")
def two_squares() -> SimpleNamespace:
    """The synthetic task for tests: .episode(rng) -> Episode, .env() -> SquaresEnv."""
    return SimpleNamespace(
        episode=lambda rng: synthetic_episode(rng, TINY_PX, TINY_T), env=SquaresEnv
    )


@pytest.fixture(scope="session")
def synthetic_data_dirs(tmp_path_factory) -> dict[str, Path]:
    """Session-wide train (64 variations) and val (16) synthetic datasets; treat as read-only."""
    base = tmp_path_factory.mktemp("synthetic")
    return {
        "train": write_synthetic_dataset(base / "train", 64, seed=1, split="train"),
        "val": write_synthetic_dataset(base / "val", 16, seed=2, split="val"),
    }


def tiny_model_config(**overrides) -> ModelConfig:
    values = dict(
        image_px=TINY_PX,
        episode_steps=TINY_T,
        conv_channels=(8, 8),
        conv_strides=(1, 1),
        hidden_sizes=(32, 32),
        bias_transform_dim=8,
        temporal_channels=8,
        temporal_kernel=3,
    )
    return ModelConfig(**{**values, **overrides})


@pytest.fixture(scope="session")
def tiny_model_factory():
    """tiny_model_factory(**overrides) -> a tiny ModelConfig."""
    return tiny_model_config


@pytest.fixture(scope="session")
def untrained_checkpoint():
    """untrained_checkpoint(path, task=None, **model_overrides) -> path: writes an untrained meta
    checkpoint of the tiny model sized for sim images (32 px, T = 40 steps unless overridden),
    recorded as meta-trained on `task` (None: no task recorded, as in older checkpoints)."""
    from daml.checkpoint import Checkpoint, save_checkpoint
    from daml.meta import Learner

    def write(path: Path, task: str | None = None, **model_overrides) -> Path:
        model = tiny_model_config(**{"image_px": 32, "episode_steps": 40, **model_overrides})
        learner = Learner.create(model, MetaConfig(), seed=0)
        info = {} if task is None else {"task": task}
        save_checkpoint(path, Checkpoint("meta", RunConfig(model=model), learner.params, info=info))
        return path

    return write


@pytest.fixture
def tiny_model() -> ModelConfig:
    """A learner small enough for millisecond meta-steps on 16x16, T=8 data."""
    return tiny_model_config()


def tiny_run(**train_values) -> RunConfig:
    """The tiny model with default meta-learning and TrainConfig(**train_values)."""
    return RunConfig(
        model=tiny_model_config(), meta=MetaConfig(), train=TrainConfig(**train_values)
    )


@pytest.fixture
def tiny_run_config() -> RunConfig:
    """A tiny full run config: 4-task meta-batches, frequent logging and checkpoints."""
    return tiny_run(
        steps=4,
        meta_batch=4,
        outer_lr=3e-3,
        log_every=1,
        val_every=2,
        val_tasks=8,
        checkpoint_every=2,
    )


@pytest.fixture(scope="session")
def trained_synthetic_run(synthetic_data_dirs, tmp_path_factory) -> Path:
    """A run dir meta-trained for 400 steps on the synthetic task (~20 s); treat as read-only."""
    from daml.train import train

    config = tiny_run(
        steps=400,
        meta_batch=8,
        outer_lr=5e-3,
        seed=0,
        log_every=10,
        val_every=100,
        val_tasks=16,
        checkpoint_every=400,
    )
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    train(
        config,
        synthetic_data_dirs["train"],
        run_dir,
        val_dir=synthetic_data_dirs["val"],
        device="cpu",
        progress=False,
    )
    return run_dir


def index_frame(i: int, height: int = 48, width: int = 64) -> np.ndarray:
    """RGB frame (H, W, 3) uint8 carrying index i < 512 as grey levels 16 + 32 * digit.

    One base-8 digit per channel: far enough apart to survive lossy mp4v coding.
    """
    digits = (i % 8, (i // 8) % 8, i // 64)
    return np.broadcast_to(np.array([16 + 32 * d for d in digits], np.uint8), (height, width, 3))


def frame_index(frame_rgb: np.ndarray) -> int:
    """The index an `index_frame` carries, read back from a (possibly re-coded) RGB frame."""
    digits = np.round((frame_rgb.reshape(-1, 3).mean(axis=0) - 16) / 32).astype(int)
    return int(digits[0] + 8 * digits[1] + 64 * digits[2])


@pytest.fixture(scope="session")
def index_frames() -> SimpleNamespace:
    """Frames that carry their index: .frame(i, height=48, width=64) -> RGB, .index(frame) -> i."""
    return SimpleNamespace(frame=index_frame, index=frame_index)


def collect_in_process(
    out: Path,
    *extra: str,
    task: str = "push",
    split: str = "train",
    variations: int = 2,
    image_px: int = 32,
) -> int:
    """`daml collect` of a tiny sim dataset into `out`, in-process; returns the exit code."""
    from daml.cli import main

    return main(
        [
            "collect", "--task", task, "--variations", str(variations), "--split", split,
            "--image-px", str(image_px), "--out", str(out), *extra,
        ]
    )  # fmt: skip


@pytest.fixture(scope="session")
def daml_collect() -> Callable[..., int]:
    """Factory: daml_collect(out, *extra, task=, split=, variations=, image_px=) -> exit code."""
    return collect_in_process


BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@contextmanager
def load_benchmark_script(name: str) -> Iterator:
    """benchmarks/<name>.py as a module, with benchmarks/ on sys.path (a script may import the
    one beside it) and the module in sys.modules (dataclasses look their module up there);
    both undone on exit, with any other benchmark module it imported."""
    before = set(sys.modules)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))
        for key in set(sys.modules) - before:
            origin = getattr(sys.modules[key], "__file__", None) or ""
            if key == name or Path(origin).parent == BENCHMARKS:
                del sys.modules[key]


@pytest.fixture(scope="session")
def benchmark_script() -> Callable:
    """Factory: `with benchmark_script("val_protocol") as module: ...` (load_benchmark_script)."""
    return load_benchmark_script
