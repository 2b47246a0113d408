"""Builds the object pool: each random_urdfs object's resting orientation, a scale that fits the
gripper, and a real grasp-and-lift-and-carry test with the scripted expert's grasp plan.

Run through `python -m sim.objects --rebuild`. Must not import torch or daml.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from tqdm import tqdm

from sim.bullet import Bullet, Shape
from sim.env import MAX_EE_STEP_M, START_EE, TABLE_RGBA, EnvConfig
from sim.errors import SimError
from sim.experts import CARRY_Z_M, Waypoint, expert_action, grasp_waypoints, time_parameterise
from sim.objects import PoolObject, mesh_vertices, rotated_bounds, spawn_object, world_bounds
from sim.robot import Panda

GRASP_AXIS_MAX_M = 0.06  # object width along the finger axis (world y) after scaling
EXTENT_MAX_M = 0.08  # largest object dimension after scaling
HEIGHT_MIN_M = 0.022  # flatter objects cannot be pinched above the table
MAX_UPSCALE = 1.5
REST_S = 2.0  # simulated seconds to let a dropped object come to rest
# Trial positions (x, y) spread over the table region; each is grasped, lifted and carried.
TRIAL_XY = ((0.45, -0.12), (0.58, 0.12), (0.62, -0.22), (0.40, 0.20), (0.52, 0.0))
CARRY_OFFSET_M = np.array([0.0, 0.22, 0.0])
LIFTED_BOTTOM_M = 0.10  # after the carry the object's bottom must be this high


def fit_scale(extents: np.ndarray) -> float | None:
    """globalScaling that fits the gripper for a resting object of size `extents` (3,)."""
    scale = min(GRASP_AXIS_MAX_M / extents[1], EXTENT_MAX_M / extents.max(), MAX_UPSCALE)
    return None if extents[2] * scale < HEIGHT_MIN_M else float(scale)


def _world(bullet: Bullet, config: EnvConfig) -> None:
    bullet.reset_world(1.0 / config.physics_hz, config.solver_iterations)
    bullet.create_body([Shape("box", (0.45, 0.6, 0.02), TABLE_RGBA, (0, 0, -0.02))], (0.5, 0, 0))


def resting_entry(bullet: Bullet, object_id: int, config: EnvConfig) -> PoolObject | None:
    """Drop the object on the table and read its resting orientation; scale it to fit."""
    extents = np.ptp(mesh_vertices(object_id), axis=0)
    first = min(EXTENT_MAX_M / extents.max(), MAX_UPSCALE)
    _world(bullet, config)
    body = spawn_object(bullet, object_id, np.array([0.5, 0.0]), PoolObject(first, (0, 0, 0, 1)))
    bullet.step(round(REST_S * config.physics_hz))
    _, rest = bullet.pose(body)
    rest = tuple(float(q) for q in rest / np.linalg.norm(rest))
    # Turn the narrow side across the fingers (world y): the larger scale that allows keeps
    # elongated objects from being shrunk flat.
    candidates = [rest, bullet.rotate_z(rest, np.pi / 2)]
    sizes = [np.subtract(*rotated_bounds(object_id, 1.0, q, np.zeros(3))[::-1]) for q in candidates]
    best = int(np.argmin([size[1] for size in sizes]))
    scale = fit_scale(sizes[best])
    return None if scale is None else PoolObject(scale, candidates[best])


def grasp_and_lift(
    bullet: Bullet, object_id: int, entry: PoolObject, xy: np.ndarray, config: EnvConfig
) -> bool:
    """Spawn the object at `xy`, run the expert's grasp plan plus a sideways carry; held?"""
    _world(bullet, config)
    robot = Panda(bullet)
    robot.load()
    robot.reset(START_EE)
    body = spawn_object(bullet, object_id, xy, entry)
    bullet.step(round(0.3 * config.physics_hz))
    lo, hi = world_bounds(bullet, body, object_id, entry.scale)
    carry = np.array([xy[0], xy[1], CARRY_Z_M]) + CARRY_OFFSET_M * -np.sign(xy[1] or 1.0)
    waypoints = [
        *grasp_waypoints(lo, hi),
        Waypoint(tuple(carry), 1.0),
        Waypoint(tuple(carry), 1.0, 3),
    ]
    trajectory = time_parameterise(START_EE, waypoints, 40, "grasp test")
    substeps = config.physics_hz // config.control_hz
    for t in range(len(trajectory.grippers)):
        action = expert_action(
            robot.ee_position(), trajectory.positions[t + 1], float(trajectory.grippers[t])
        )
        robot.apply_action(action, MAX_EE_STEP_M)
        bullet.step(substeps)
    lo, _ = world_bounds(bullet, body, object_id, entry.scale)
    return bool(lo[2] > LIFTED_BOTTOM_M and robot.touching(body))


def build_pool(object_ids: Iterable[int], trials: int) -> dict[int, PoolObject]:
    """Objects that rest stably, fit the gripper and survive `trials` grasp-lift-carry tests."""
    if not 1 <= trials <= len(TRIAL_XY):
        raise SimError(f"trials={trials} out of range; use 1..{len(TRIAL_XY)}")
    config = EnvConfig()
    bullet = Bullet()
    kept: dict[int, PoolObject] = {}
    try:
        for object_id in tqdm(list(object_ids), desc="grasp test", unit="object"):
            try:
                entry = resting_entry(bullet, object_id, config)
            except SimError:  # unusable mesh (e.g. random_urdfs/168): not a pool candidate
                continue
            if entry is None:
                continue
            if all(
                grasp_and_lift(bullet, object_id, entry, np.array(xy), config)
                for xy in TRIAL_XY[:trials]
            ):
                kept[object_id] = entry
    finally:
        bullet.close()
    return kept
