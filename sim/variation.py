"""Task variations: which objects, which is the target, which container/goal and colours, layout.

A Variation fully determines a scene (with the env's seed adding only start-pose noise).
Must not import pybullet, torch or daml.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sim.errors import SimError
from sim.objects import object_split

TASKS = ("pick_place", "push")
SPLITS = ("train", "val", "test")
SLOT_COUNT = 2  # two containers (pick_place) or two goal markers (push)
MIN_DISTRACTORS, MAX_DISTRACTORS = 1, 3
# Named colours for containers and goal markers (RGB in 0..1); a variation uses two distinct ones.
SLOT_COLORS = {
    "red": (0.85, 0.15, 0.12),
    "green": (0.15, 0.7, 0.2),
    "blue": (0.15, 0.3, 0.9),
    "yellow": (0.95, 0.85, 0.1),
    "purple": (0.6, 0.2, 0.75),
    "cyan": (0.1, 0.8, 0.85),
}


def check_task(task: str) -> str:
    """Return `task` or raise SimError naming the valid tasks."""
    if task not in TASKS:
        raise SimError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    return task


def check_split(split: str) -> str:
    """Return `split` or raise SimError naming the valid splits."""
    if split not in SPLITS:
        raise SimError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return split


def check_generator(rng: object) -> np.random.Generator:
    """Return `rng` or raise TypeError: the samplers draw with a numpy Generator only (an int
    seed or the legacy np.random module would draw other numbers, or fail deep inside)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    return rng


@dataclass(frozen=True)
class Variation:
    """One task variation.

    Attributes:
        task: "pick_place" or "push".
        object_ids: random_urdfs ids on the table (target + distractors), 2..4 of them.
        target_index: index into `object_ids` of the object to move.
        target_slot: which of the two containers/goals (0 or 1) is the destination.
        slot_colors: colour names (keys of SLOT_COLORS) of slot 0 and slot 1, distinct.
        layout_seed: seeds the placement of objects and containers/goals.
    """

    task: str
    object_ids: tuple[int, ...]
    target_index: int
    target_slot: int
    slot_colors: tuple[str, str]
    layout_seed: int

    def __post_init__(self) -> None:
        check_task(self.task)
        n = len(self.object_ids)
        if not 1 + MIN_DISTRACTORS <= n <= 1 + MAX_DISTRACTORS:
            raise SimError(f"variation has {n} objects; use 2..4 (target + 1-3 distractors)")
        if len(set(self.object_ids)) != n:
            raise SimError(f"variation object_ids {self.object_ids} repeat an id; use distinct ids")
        if not 0 <= self.target_index < n:
            raise SimError(f"target_index {self.target_index} out of range for {n} objects")
        if self.target_slot not in (0, 1):
            raise SimError(f"target_slot {self.target_slot} must be 0 or 1")
        unknown = [c for c in self.slot_colors if c not in SLOT_COLORS]
        if len(self.slot_colors) != SLOT_COUNT or unknown or len(set(self.slot_colors)) != 2:
            raise SimError(
                f"slot_colors {self.slot_colors} must be two distinct names"
                f" from {list(SLOT_COLORS)}"
            )

    @property
    def target_object(self) -> int:
        """random_urdfs id of the object to move."""
        return self.object_ids[self.target_index]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists instead of tuples)."""
        d = asdict(self)
        d["object_ids"] = list(self.object_ids)
        d["slot_colors"] = list(self.slot_colors)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Variation:
        """Inverse of `to_dict`; raises SimError on missing or bad fields."""
        try:
            return cls(
                task=str(data["task"]),
                object_ids=tuple(int(i) for i in data["object_ids"]),
                target_index=int(data["target_index"]),
                target_slot=int(data["target_slot"]),
                slot_colors=tuple(str(c) for c in data["slot_colors"]),
                layout_seed=int(data["layout_seed"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SimError(f"bad variation dict {data!r}: {exc}") from exc


def sample_variation(task: str, split: str, rng: np.random.Generator) -> Variation:
    """Draw a variation of `task` using only objects of `split` ("train", "val", "test")."""
    check_task(task)
    check_generator(rng)
    pool = object_split(check_split(split))
    n_objects = 1 + int(rng.integers(MIN_DISTRACTORS, MAX_DISTRACTORS + 1))
    ids = rng.choice(len(pool), size=n_objects, replace=False)
    colors = rng.choice(len(SLOT_COLORS), size=SLOT_COUNT, replace=False)
    names = list(SLOT_COLORS)
    return Variation(
        task=task,
        object_ids=tuple(int(pool[i]) for i in ids),
        target_index=int(rng.integers(n_objects)),
        target_slot=int(rng.integers(SLOT_COUNT)),
        slot_colors=(names[colors[0]], names[colors[1]]),
        layout_seed=int(rng.integers(2**31 - 1)),
    )
