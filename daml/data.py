"""On-disk dataset of demo pairs and the meta-batch loader; the only module that knows the format.

Layout (docs/ARCHITECTURE.md): `<root>/manifest.json` + `<root>/episodes/NNNNNN.npz`, one
variation per episode, each with a robot demo (frames, states, actions) and a human demo (frames,
and the avatar's pixel masks where the collecting daml recorded them).
Must not import sim, pybullet or cv2.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from daml import ACTION_DIM, STATE_DIM
from daml.errors import ConfigError, DataError
from daml.output_path import atomic_output, write_bytes_atomic

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
EPISODES_DIR = "episodes"
_ARRAY_KEYS = ("robot_frames", "robot_states", "robot_actions", "human_frames")
_OPTIONAL_KEYS = ("human_masks",)


@dataclass
class Manifest:
    """What a dataset directory holds and how it was made. Saved as `<root>/manifest.json`."""

    task: str
    split: str
    variations: int
    seed: int
    image_px: int
    control_hz: float
    episode_steps: int
    object_ids: list[int] = field(default_factory=list)
    look_split: str = ""
    action_noise: float = 0.0  # DART noise on the expert's executed motion (sim.robot_demo)
    grasp_miss: float = 0.0  # fraction of robot demos that miss their first grasp and recover
    descent_steps: int = 2  # least steps of the robot expert's descent onto a pick_place grasp
    # (sim.experts.DESCENT_STEPS; tests/test_collect.py ties the three spellings together)
    push_retries: int = 0  # times a push robot demo may re-approach a target it lost
    dagger_sha256: str = ""  # the meta checkpoint that drove the robot demos (DAgger; "": the
    dagger_checkpoint: str = ""  # expert drove); its path where it was collected
    expert_labels: str = "plan"  # robot actions: the expert's plan, or "replan" (sim.replanning)
    human_masks: bool = False  # every episode stores the avatar's pixels (train.avatar_hue_jitter)
    format_version: int = FORMAT_VERSION
    daml_version: str = ""

    def __post_init__(self) -> None:
        if self.format_version != FORMAT_VERSION:
            raise DataError(
                f"dataset format version {self.format_version} is not supported "
                f"(this daml reads version {FORMAT_VERSION}); re-collect it with `daml collect`"
            )
        if self.expert_labels not in ("plan", "replan"):
            raise DataError(f"manifest has unknown expert_labels {self.expert_labels!r}")
        if self.variations <= 0 or self.image_px <= 0 or self.episode_steps <= 1:
            raise DataError(
                f"manifest has invalid sizes (variations={self.variations}, "
                f"image_px={self.image_px}, episode_steps={self.episode_steps})"
            )

    # What makes two collections the same (all but the variation count and provenance).
    COLLECTION_KEYS = ("task", "split", "seed", "image_px", "control_hz", "episode_steps",
                       "action_noise", "grasp_miss", "descent_steps", "push_retries",
                       "dagger_sha256", "expert_labels", "format_version")  # fmt: skip

    def differences(self, other: Manifest) -> list[str]:
        """The COLLECTION_KEYS on which `other` describes another collection than this one."""
        return [key for key in self.COLLECTION_KEYS if getattr(self, key) != getattr(other, key)]

    def compatible_with(self, other: Manifest) -> bool:
        """True if `other` describes the same collection (all but the variation count)."""
        return not self.differences(other)

    def save(self, root: Path) -> None:
        write_bytes_atomic(root / MANIFEST_NAME, json.dumps(asdict(self), indent=2).encode())

    @classmethod
    def load(cls, root: Path) -> Manifest:
        path = Path(root) / MANIFEST_NAME
        if not path.is_file():
            raise DataError(f"{root} is not a daml dataset: {MANIFEST_NAME} is missing")
        try:
            raw = json.loads(path.read_text())
            known = {f.name for f in fields(cls)}
            return cls(**{key: value for key, value in raw.items() if key in known})
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as error:
            raise DataError(f"{path} is corrupt ({error}); re-collect the dataset") from error


@dataclass
class Episode:
    """One task variation: a robot demo and a human demo of the same task.

    Attributes:
        robot_frames: uint8 (T, H, W, 3) RGB camera frames of the robot demo.
        robot_states: float32 (T, 4) end-effector xyz + gripper opening before each action.
        robot_actions: float32 (T, 4) [dx, dy, dz in [-1, 1], gripper -1/+1].
        human_frames: uint8 (T, H, W, 3) RGB frames of the human-like demo (no actions).
        variation: JSON-able description (variation, seeds, avatar look, expert attempts).
        human_masks: bool (T, H, W), True where a human frame shows the avatar; None in
            datasets collected before masks were recorded.
    """

    robot_frames: np.ndarray
    robot_states: np.ndarray
    robot_actions: np.ndarray
    human_frames: np.ndarray
    variation: dict[str, Any]
    human_masks: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        """Bytes the episode's arrays hold in memory (decoded)."""
        arrays = (getattr(self, key) for key in (*_ARRAY_KEYS, *_OPTIONAL_KEYS))
        return sum(array.nbytes for array in arrays if array is not None)

    def validate(self, source: str = "episode") -> None:
        """Raise DataError unless shapes and dtypes follow the format."""
        frames, states, actions = self.robot_frames, self.robot_states, self.robot_actions
        checks = [
            (
                frames.dtype == np.uint8
                and frames.ndim == 4
                and frames.shape[-1] == 3
                and len(frames) >= 2
                and min(frames.shape[1:3]) >= 1,
                f"robot_frames must be uint8 (T, H, W, 3) with T >= 2, "
                f"got {frames.dtype} {frames.shape}",
            ),
            (
                self.human_frames.dtype == np.uint8 and self.human_frames.shape == frames.shape,
                f"human_frames must be uint8 {frames.shape} like robot_frames, "
                f"got {self.human_frames.dtype} {self.human_frames.shape}",
            ),
            (
                states.shape == (len(frames), STATE_DIM),
                f"robot_states must be ({len(frames)}, {STATE_DIM}), got {states.shape}",
            ),
            (
                actions.shape == (len(frames), ACTION_DIM),
                f"robot_actions must be ({len(frames)}, {ACTION_DIM}), got {actions.shape}",
            ),
            (
                np.isfinite(states).all() and np.isfinite(actions).all(),
                "robot_states/robot_actions contain NaN or inf",
            ),
        ]
        if self.human_masks is not None:
            checks.append(
                (
                    self.human_masks.dtype == np.bool_
                    and self.human_masks.shape == self.human_frames.shape[:3],
                    f"human_masks must be bool {self.human_frames.shape[:3]}, "
                    f"got {self.human_masks.dtype} {self.human_masks.shape}",
                )
            )
        for ok, message in checks:
            if not ok:
                raise DataError(f"{source}: {message}")


def episode_path(root: Path, index: int) -> Path:
    """Path of episode `index` under dataset `root`."""
    return Path(root) / EPISODES_DIR / f"{index:06d}.npz"


def save_episode(path: Path, episode: Episode) -> None:
    """Validate and write one episode as a compressed npz, atomically."""
    episode.validate(str(path))
    with atomic_output(path) as handle:
        np.savez_compressed(
            handle,
            **{
                key: getattr(episode, key)
                for key in (*_ARRAY_KEYS, *_OPTIONAL_KEYS)
                if getattr(episode, key) is not None
            },
            variation=np.array(json.dumps(episode.variation)),
        )


def load_episode(path: Path) -> Episode:
    """Read and validate one episode; DataError names the file if it is missing or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"episode {path} does not exist")
    try:
        # Our own handle: np.load leaves its file open when the zip directory is unreadable.
        with open(path, "rb") as handle:
            if handle.read(4) != b"PK\x03\x04":  # not a zip: np.load would advise allow_pickle
                raise DataError(
                    f"{path} is not a daml episode (an .npz that `daml collect` writes)"
                )
            handle.seek(0)
            with np.load(handle, allow_pickle=False) as archive:
                keys = archive.files
                missing = [key for key in (*_ARRAY_KEYS, "variation") if key not in keys]
                if missing:
                    raise DataError(f"episode {path} is not a daml episode (missing {missing})")
                arrays = {
                    key: archive[key] for key in (*_ARRAY_KEYS, *_OPTIONAL_KEYS) if key in keys
                }
                variation = json.loads(str(archive["variation"]))
    except DataError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as error:
        raise DataError(
            f"episode {path} is corrupt or truncated ({type(error).__name__}: {error}); "
            "delete it and re-run `daml collect` on the same --out to re-collect it"
        ) from error
    episode = Episode(**arrays, variation=variation)
    episode.validate(str(path))
    return episode


class DemoDataset:
    """A dataset directory; episodes are read from disk on access, never all held in memory."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            what = "is a file, not a dataset folder" if self.root.exists() else "does not exist"
            raise DataError(f"dataset directory {self.root} {what}")
        self.manifest = Manifest.load(self.root)
        self.paths = sorted((self.root / EPISODES_DIR).glob("[0-9]*.npz"))
        if not self.paths:
            raise DataError(f"dataset {self.root} has no episodes; run `daml collect` first")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Episode:
        episode = load_episode(self.paths[index])
        expected = (self.manifest.episode_steps, self.manifest.image_px, self.manifest.image_px, 3)
        if episode.robot_frames.shape != expected or episode.human_frames.shape != expected:
            raise DataError(
                f"episode {self.paths[index]} has frames {episode.robot_frames.shape}, "
                f"but the manifest says {expected}"
            )
        return episode


@dataclass
class MetaBatch:
    """B task variations, each a (human demo, robot demo) pair, as torch tensors.

    Attributes:
        human_frames: uint8 (B, T, 3, H, W).
        robot_frames: uint8 (B, T, 3, H, W).
        robot_states: float32 (B, T, 4).
        robot_actions: float32 (B, T, 4).
        human_masks: bool (B, T, H, W) the avatar's pixels in human_frames; None unless every
            episode has them.
    """

    human_frames: Any
    robot_frames: Any
    robot_states: Any
    robot_actions: Any
    human_masks: Any = None

    @classmethod
    def from_episodes(cls, episodes: list[Episode]) -> MetaBatch:
        import torch

        def stack_frames(key: str):
            frames = np.stack([getattr(e, key) for e in episodes])  # (B, T, H, W, 3)
            return torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 1, 4, 2, 3)))

        masks = None
        if all(e.human_masks is not None for e in episodes):
            masks = torch.from_numpy(np.stack([e.human_masks for e in episodes]))
        return cls(
            human_frames=stack_frames("human_frames"),
            robot_frames=stack_frames("robot_frames"),
            robot_states=torch.from_numpy(np.stack([e.robot_states for e in episodes])).float(),
            robot_actions=torch.from_numpy(np.stack([e.robot_actions for e in episodes])).float(),
            human_masks=masks,
        )

    def to(self, device: Any) -> MetaBatch:
        non_blocking = str(device).startswith("cuda")
        return MetaBatch(
            **{
                f.name: None
                if getattr(self, f.name) is None
                else getattr(self, f.name).to(device, non_blocking=non_blocking)
                for f in fields(self)
            }
        )

    def __len__(self) -> int:
        return int(self.robot_actions.shape[0])


class MetaBatchLoader:
    """Endless meta-batches of B episodes, shuffled per epoch, read by a prefetch thread.

    The batch at step s depends only on (seed, s), so a resumed run that starts at
    `start_step` sees exactly the batches an uninterrupted run would have seen.
    """

    def __init__(
        self,
        dataset: DemoDataset,
        meta_batch: int,
        seed: int = 0,
        start_step: int = 0,
        prefetch: int = 2,
    ) -> None:
        if meta_batch <= 0:
            raise ConfigError(f"meta_batch must be positive, got {meta_batch}")
        if meta_batch > len(dataset):
            raise ConfigError(
                f"meta_batch {meta_batch} exceeds the {len(dataset)} episodes in {dataset.root}"
            )
        self.dataset, self.meta_batch, self.seed = dataset, meta_batch, seed
        self.start_step, self.prefetch = start_step, prefetch

    def indices(self, step: int) -> np.ndarray:
        """Episode indices (B,) of the batch at `step`."""
        per_epoch = len(self.dataset) // self.meta_batch
        epoch, slot = divmod(step, per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))
        return order[slot * self.meta_batch : (slot + 1) * self.meta_batch]

    def batch(self, step: int) -> MetaBatch:
        return MetaBatch.from_episodes([self.dataset[int(i)] for i in self.indices(step)])

    def __iter__(self) -> Iterator[MetaBatch]:
        buffer: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def produce() -> None:
            step = self.start_step
            while not stop.is_set():
                try:
                    item: Any = self.batch(step)
                except Exception as error:  # handed to the consumer, which re-raises it
                    item = error
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if isinstance(item, Exception):
                    return
                step += 1

        worker = threading.Thread(target=produce, daemon=True, name="daml-meta-batches")
        worker.start()
        try:
            while True:
                item = buffer.get()
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            stop.set()
