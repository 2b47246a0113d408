"""The object pool: pybullet_data random_urdfs ids the gripper can hold, each with its scale and
resting orientation, and the disjoint train/val/test split (sim/assets/object_pool.json).

`python -m sim.objects --rebuild` re-runs the grasp-and-lift test (sim.pool_builder) and rewrites
the JSON. Must not import torch or daml.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.bullet import Bullet, data_path, quat_to_matrix
from sim.errors import SimError

POOL_PATH = Path(__file__).parent / "assets" / "object_pool.json"
POOL_FORMAT_VERSION = 1
URDF_MESH_SCALE = 0.015  # every random_urdfs/NNN.urdf scales its mesh by this
SPLIT_FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
SPLIT_SEED = 20180625  # fixed: the split is part of the shipped asset


@dataclass(frozen=True)
class PoolObject:
    """How to spawn one pooled object: globalScaling and resting orientation (x, y, z, w)."""

    scale: float
    quat: tuple[float, float, float, float]


def urdf_path(object_id: int) -> str:
    """Path of random_urdfs/NNN/NNN.urdf."""
    return os.path.join(data_path(), "random_urdfs", f"{object_id:03d}", f"{object_id:03d}.urdf")


@functools.cache
def mesh_vertices(object_id: int) -> np.ndarray:
    """Vertices (V, 3) in metres of the object's mesh at the URDF's own scale, body frame.

    Raises SimError when the mesh has no finite vertices (random_urdfs/168 is broken).
    """
    obj = os.path.join(data_path(), "random_urdfs", f"{object_id:03d}", f"{object_id:03d}.obj")
    with open(obj) as handle:
        verts = [line.split()[1:4] for line in handle if line.startswith("v ")]
    v = np.asarray(verts, dtype=np.float64).reshape(-1, 3) * URDF_MESH_SCALE
    if len(v) == 0 or not np.isfinite(v).all():
        raise SimError(f"random_urdfs/{object_id:03d} has no usable mesh; leave it out of the pool")
    v.setflags(write=False)
    return v


def rotated_bounds(
    object_id: int, scale: float, quat: tuple[float, ...], position: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Tight world box (min (3,), max (3,)) of the object's mesh at a pose."""
    points = mesh_vertices(object_id) * scale @ quat_to_matrix(quat).T + position
    return points.min(axis=0), points.max(axis=0)


def world_bounds(
    bullet: Bullet, body: int, object_id: int, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Tight world box (min (3,), max (3,)) of a spawned object in its current pose.

    Uses the mesh vertices (a random_urdfs base frame is its mesh frame) because PyBullet's
    getAABB inflates a rotated body's box by up to ~40%.
    """
    pos, quat = bullet.pose(body)
    return rotated_bounds(object_id, scale, tuple(quat), pos)


def spawn_object(
    bullet: Bullet, object_id: int, xy: np.ndarray, entry: PoolObject, yaw: float = 0.0
) -> int:
    """Load an object in its resting orientation (turned by `yaw` about z), its box centred at
    `xy` (2,) and its bottom 1 mm above the table (z = 0); returns the body id."""
    quat = bullet.rotate_z(entry.quat, yaw)
    lo, hi = rotated_bounds(object_id, entry.scale, quat, np.zeros(3))
    centre = (lo + hi) / 2
    position = (float(xy[0] - centre[0]), float(xy[1] - centre[1]), float(0.001 - lo[2]))
    body = bullet.load_urdf(urdf_path(object_id), position, quat=quat, scale=entry.scale)
    bullet.set_dynamics(body, -1, lateralFriction=1.0, spinningFriction=0.01, rollingFriction=0.005)
    return body


@functools.cache
def _pool() -> dict:
    if not POOL_PATH.exists():
        raise SimError(f"object pool {POOL_PATH} is missing; run `python -m sim.objects --rebuild`")
    with open(POOL_PATH) as handle:
        return json.load(handle)


def object_split(split: str) -> tuple[int, ...]:
    """random_urdfs ids of `split` ("train", "val" or "test"); the three sets are disjoint."""
    splits = _pool()["splits"]
    if split not in splits:
        raise SimError(f"unknown split {split!r}; choose one of {', '.join(splits)}")
    return tuple(splits[split])


def pool_object(object_id: int) -> PoolObject:
    """Scale and resting orientation of a pooled object; SimError for ids outside the pool."""
    objects = _pool()["objects"]
    if str(object_id) not in objects:
        raise SimError(
            f"object id {object_id} is not in the object pool; use ids from object_split"
        )
    entry = objects[str(object_id)]
    return PoolObject(float(entry["scale"]), tuple(float(q) for q in entry["quat"]))


def split_ids(kept: list[int], seed: int = SPLIT_SEED) -> dict[str, list[int]]:
    """Deterministic disjoint train/val/test split of the kept ids."""
    order = np.random.default_rng(seed).permutation(sorted(kept))
    n_train = int(round(SPLIT_FRACTIONS["train"] * len(order)))
    n_val = int(round(SPLIT_FRACTIONS["val"] * len(order)))
    parts = {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    return {name: sorted(int(i) for i in ids) for name, ids in parts.items()}


def write_pool(objects: dict[int, PoolObject], path: Path = POOL_PATH) -> None:
    """Write the pool JSON atomically (temp file in the same directory, then os.replace)."""
    data = {
        "format_version": POOL_FORMAT_VERSION,
        "source": "pybullet_data/random_urdfs kept when the scripted expert grasps and lifts them",
        "objects": {
            str(i): {"scale": round(o.scale, 5), "quat": [round(q, 6) for q in o.quat]}
            for i, o in sorted(objects.items())
        },
        "splits": split_ids(list(objects)),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pool_", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=1)
    os.replace(tmp, path)
    _pool.cache_clear()


def main(argv: list[str] | None = None) -> int:
    """python -m sim.objects --rebuild [--ids 0-999] [--trials 3]"""
    parser = argparse.ArgumentParser(prog="python -m sim.objects", description=__doc__)
    parser.add_argument("--rebuild", action="store_true", help="re-run the grasp test, write JSON")
    parser.add_argument("--first", type=int, default=0, help="first random_urdfs id to test")
    parser.add_argument("--last", type=int, default=999, help="last random_urdfs id to test")
    parser.add_argument("--trials", type=int, default=3, help="grasp-and-lift trials per object")
    args = parser.parse_args(argv)
    if not args.rebuild:
        pool = _pool()
        print({name: len(ids) for name, ids in pool["splits"].items()})
        return 0
    from sim.pool_builder import build_pool  # the builder needs the expert, which needs this module

    kept = build_pool(range(args.first, args.last + 1), args.trials)
    write_pool(kept)
    print(f"kept {len(kept)} objects -> {POOL_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
