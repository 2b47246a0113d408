"""What every task shares: the Scene a task builds, the TaskSpec table entry, the layout sampler.

Talks to PyBullet only through sim.bullet. Must not import torch or daml.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.bullet import Bullet
from sim.errors import SimError
from sim.objects import pool_object, spawn_object, world_bounds
from sim.variation import SLOT_COLORS, Variation

# Table-top region (world x, y in metres) where objects, containers and goals are placed.
REGION_LOW = np.array([0.36, -0.28])
REGION_HIGH = np.array([0.66, 0.28])
OBJECT_RADIUS_M = 0.045
LAYOUT_TRIES = 2000


@dataclass
class Scene:
    """Bodies of one built variation. Positions are world metres.

    Attributes:
        variation: what was built.
        object_bodies: body ids in `variation.object_ids` order.
        slot_bodies: body ids of the two containers / goal markers.
        slot_xy: (2, 2) centres of the two slots.
        scales: globalScaling of each object, in `object_bodies` order.
    """

    variation: Variation
    object_bodies: tuple[int, ...]
    slot_bodies: tuple[int, ...]
    slot_xy: np.ndarray
    scales: tuple[float, ...]

    def target_bounds(self, bullet: Bullet) -> tuple[np.ndarray, np.ndarray]:
        """Tight world box (min (3,), max (3,)) of the target object now."""
        i = self.variation.target_index
        return world_bounds(
            bullet, self.object_bodies[i], self.variation.object_ids[i], self.scales[i]
        )

    @property
    def target_body(self) -> int:
        return self.object_bodies[self.variation.target_index]

    @property
    def target_slot_xy(self) -> np.ndarray:
        return self.slot_xy[self.variation.target_slot]


@dataclass(frozen=True)
class TaskSpec:
    """One row of the task table.

    Attributes:
        name: task name.
        episode_steps: default T (control steps per episode).
        layout: (variation, rng) -> (object_xy (N, 2), slot_xy (2, 2)).
        build_slot: (bullet, xy (2,), rgb) -> body id of a container / goal marker.
        is_success: (bullet, scene, held) -> bool; `held` says whether something grips the target.
    """

    name: str
    episode_steps: int
    layout: Callable[[Variation, np.random.Generator], tuple[np.ndarray, np.ndarray]]
    build_slot: Callable[[Bullet, np.ndarray, tuple[float, float, float]], int]
    is_success: Callable[[Bullet, Scene, bool], bool]

    def build(self, bullet: Bullet, variation: Variation) -> Scene:
        """Add the variation's slots and objects to the world (deterministic per variation)."""
        rng = np.random.default_rng(variation.layout_seed)
        object_xy, slot_xy = self.layout(variation, rng)
        slots = tuple(
            self.build_slot(bullet, xy, SLOT_COLORS[color])
            for xy, color in zip(slot_xy, variation.slot_colors, strict=True)
        )
        entries = [pool_object(oid) for oid in variation.object_ids]
        bodies = tuple(
            spawn_object(bullet, oid, xy, entry)
            for oid, xy, entry in zip(variation.object_ids, object_xy, entries, strict=True)
        )
        scales = tuple(entry.scale for entry in entries)
        return Scene(variation, bodies, slots, np.asarray(slot_xy), scales)


def sample_disks(
    rng: np.random.Generator,
    radii: list[float],
    placed: list[tuple[np.ndarray, float]] | None = None,
    accept: Callable[[int, np.ndarray], bool] | None = None,
) -> np.ndarray:
    """Centres (N, 2) of non-overlapping disks of `radii` inside the region (rejection sampling).

    `placed` are fixed (centre, radius) disks to avoid; `accept(i, xy)` can veto a candidate.
    """
    placed = list(placed or [])
    out = []
    for i, radius in enumerate(radii):
        for _ in range(LAYOUT_TRIES):
            xy = rng.uniform(REGION_LOW + radius * 0.5, REGION_HIGH - radius * 0.5)
            clear = all(np.linalg.norm(xy - c) >= radius + r for c, r in placed)
            if clear and (accept is None or accept(i, xy)):
                break
        else:
            raise SimError(f"could not place {len(radii)} disks of radii {radii}; shrink the scene")
        placed.append((xy, radius))
        out.append(xy)
    return np.asarray(out)
