"""pick_place: pick the target object among 1-3 distractors and put it into the target tray.

Two open trays of distinct colours are built from box primitives. Success: the target's centre
is inside the target tray's inner footprint, below its rim, and nothing holds it.
Must not import pybullet, torch or daml.
"""

from __future__ import annotations

import numpy as np

from sim.bullet import Bullet, Shape
from sim.tasks.base import OBJECT_RADIUS_M, Scene, TaskSpec, sample_disks
from sim.variation import Variation

TRAY_INNER_HALF_M = 0.065
TRAY_WALL_M = 0.008
TRAY_RIM_M = 0.05  # wall height above the table
TRAY_FLOOR_M = 0.006
TRAY_RADIUS_M = 0.105  # layout footprint: keeps objects clear of the walls
EPISODE_STEPS = 40


def layout(variation: Variation, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Tray centres (2, 2) first, then object centres (N, 2) clear of the trays and each other."""
    slot_xy = sample_disks(rng, [TRAY_RADIUS_M, TRAY_RADIUS_M])
    placed = [(xy, TRAY_RADIUS_M) for xy in slot_xy]
    object_xy = sample_disks(rng, [OBJECT_RADIUS_M] * len(variation.object_ids), placed)
    return object_xy, slot_xy


def build_tray(bullet: Bullet, xy: np.ndarray, rgb: tuple[float, float, float]) -> int:
    """A static open tray: a floor plate and four walls, centred at `xy`."""
    rgba = (*rgb, 1.0)
    half = TRAY_INNER_HALF_M + TRAY_WALL_M
    wall_z = TRAY_RIM_M / 2
    shapes = [Shape("box", (half, half, TRAY_FLOOR_M / 2), rgba, (0.0, 0.0, TRAY_FLOOR_M / 2))]
    for sign in (-1.0, 1.0):
        offset = sign * (TRAY_INNER_HALF_M + TRAY_WALL_M / 2)
        shapes.append(Shape("box", (TRAY_WALL_M / 2, half, wall_z), rgba, (offset, 0.0, wall_z)))
        shapes.append(Shape("box", (half, TRAY_WALL_M / 2, wall_z), rgba, (0.0, offset, wall_z)))
    return bullet.create_body(shapes, (float(xy[0]), float(xy[1]), 0.0))


def is_success(bullet: Bullet, scene: Scene, held: bool) -> bool:
    """Target centre inside the target tray's inner footprint, below the rim, not held."""
    lo, hi = scene.target_bounds(bullet)
    centre = (lo + hi) / 2
    inside = np.all(np.abs(centre[:2] - scene.target_slot_xy) < TRAY_INNER_HALF_M)
    return bool(inside and centre[2] < TRAY_RIM_M and not held)


def release_height(object_height_m: float) -> float:
    """End-effector z at which to open the gripper over a tray (object bottom 2 cm above rim)."""
    return TRAY_RIM_M + 0.02 + object_height_m / 2


PICK_PLACE = TaskSpec(
    name="pick_place",
    episode_steps=EPISODE_STEPS,
    layout=layout,
    build_slot=build_tray,
    is_success=is_success,
)
