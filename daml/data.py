"""On-disk dataset of demo pairs; the only module that knows the format.

Layout (docs/ARCHITECTURE.md): `<root>/manifest.json` + `<root>/episodes/NNNNNN.npz`, one
variation per episode, each with a robot demo (frames, states, actions) and a human demo (frames,
and the avatar's pixel masks where the collecting daml recorded them).
Must not import sim, pybullet or cv2.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from daml import ACTION_DIM, STATE_DIM
from daml.errors import DataError
from daml.output_path import atomic_output, write_bytes_atomic

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
EPISODES_DIR = "episodes"
_ARRAY_KEYS = ("robot_frames", "robot_states", "robot_actions", "human_frames")
_OPTIONAL_KEYS = ("human_masks", "extra_human_frames", "extra_human_masks")


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
    human_takes: int = 1  # human videos of each variation (`daml collect --human-takes`)
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
        sizes = (self.variations, self.image_px, self.episode_steps - 1, self.human_takes)
        if not (all(size > 0 for size in sizes) and isinstance(self.human_takes, int)):
            raise DataError(
                f"manifest has invalid sizes (variations={self.variations}, "
                f"image_px={self.image_px}, episode_steps={self.episode_steps}, "
                f"human_takes={self.human_takes})"
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
        extra_human_frames: uint8 (K-1, T, H, W, 3) further human videos of the same variation
            (other demonstrator seeds and looks: `daml collect --human-takes K`); None for one.
        extra_human_masks: bool (K-1, T, H, W) their avatar pixels; present with human_masks.
    """

    robot_frames: np.ndarray
    robot_states: np.ndarray
    robot_actions: np.ndarray
    human_frames: np.ndarray
    variation: dict[str, Any]
    human_masks: np.ndarray | None = None
    extra_human_frames: np.ndarray | None = None
    extra_human_masks: np.ndarray | None = None

    @property
    def human_takes(self) -> int:
        """How many human videos of the variation the episode holds (K >= 1)."""
        return 1 + (0 if self.extra_human_frames is None else len(self.extra_human_frames))

    def take(self, k: int) -> Episode:
        """The episode with human take k (0 <= k < human_takes) as its only human video."""
        if not 0 <= k < self.human_takes:
            raise IndexError(f"take {k} is out of range for {self.human_takes} human takes")
        if k == 0:
            return replace(self, extra_human_frames=None, extra_human_masks=None)
        masks = self.extra_human_masks
        return replace(
            self,
            human_frames=self.extra_human_frames[k - 1],
            human_masks=None if masks is None else masks[k - 1],
            extra_human_frames=None,
            extra_human_masks=None,
        )

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
        checks.extend(self._take_checks())
        for ok, message in checks:
            if not ok:
                raise DataError(f"{source}: {message}")

    def _take_checks(self) -> list[tuple[bool, str]]:
        extra, masks = self.extra_human_frames, self.extra_human_masks
        if extra is None:
            return [(masks is None, "extra_human_masks without extra_human_frames")]
        frames_shape = self.human_frames.shape
        mask_shape = (*extra.shape[:1], *frames_shape[:3])
        return [
            (
                extra.dtype == np.uint8 and extra.shape[1:] == frames_shape and len(extra) >= 1,
                f"extra_human_frames must be uint8 (K-1 >= 1, {', '.join(map(str, frames_shape))}),"
                f" got {extra.dtype} {extra.shape}",
            ),
            (
                (masks is None) == (self.human_masks is None),
                "extra_human_masks must be present exactly when human_masks is",
            ),
            (
                masks is None or (masks.dtype == np.bool_ and masks.shape == mask_shape),
                f"extra_human_masks must be bool {mask_shape}, "
                f"got {None if masks is None else (masks.dtype, masks.shape)}",
            ),
        ]


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
