"""push: push the target object among distractors onto the target goal marker.

Two flat goal markers of distinct colours (visual only, no collision). Success: the target's
centre is within GOAL_RADIUS_M of the target goal (xy) at the end of the episode.
Must not import pybullet, torch or daml.
"""

from __future__ import annotations

import numpy as np

from sim.bullet import Bullet, Shape
from sim.tasks.base import OBJECT_RADIUS_M, Scene, TaskSpec, sample_disks
from sim.variation import Variation

GOAL_RADIUS_M = 0.05  # success threshold, as panda-gym's push
GOAL_MARKER_HALF_M = 0.035
PUSH_MIN_M, PUSH_MAX_M = 0.10, 0.18  # distance from the target's start to its goal
PATH_CLEARANCE_M = 0.085  # distractors and the other goal stay this far from the push path
PUSHER_CLEARANCE_M = 0.10  # room behind the target for the pusher
EPISODE_STEPS = 40


def _segment_distance(xy: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    t = np.clip(np.dot(xy - a, ab) / np.dot(ab, ab), 0.0, 1.0)
    return float(np.linalg.norm(xy - (a + t * ab)))


def layout(variation: Variation, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Target first, then its goal at 10-18 cm, the other goal and distractors off the path."""
    (target_xy,) = sample_disks(rng, [OBJECT_RADIUS_M + PUSHER_CLEARANCE_M / 2])

    def goal_ok(_: int, xy: np.ndarray) -> bool:
        return PUSH_MIN_M <= np.linalg.norm(xy - target_xy) <= PUSH_MAX_M

    placed = [(target_xy, OBJECT_RADIUS_M)]
    (goal_xy,) = sample_disks(rng, [GOAL_MARKER_HALF_M], placed, goal_ok)
    behind = target_xy - PUSHER_CLEARANCE_M * (goal_xy - target_xy) / np.linalg.norm(
        goal_xy - target_xy
    )

    def off_path(_: int, xy: np.ndarray) -> bool:
        return (
            min(_segment_distance(xy, target_xy, goal_xy), _segment_distance(xy, behind, target_xy))
            >= PATH_CLEARANCE_M
        )

    placed.append((goal_xy, GOAL_MARKER_HALF_M))
    (other_xy,) = sample_disks(rng, [GOAL_MARKER_HALF_M], placed, off_path)
    placed.append((other_xy, GOAL_MARKER_HALF_M))
    n_distractors = len(variation.object_ids) - 1
    distractor_xy = sample_disks(rng, [OBJECT_RADIUS_M] * n_distractors, placed, off_path)
    object_xy = list(distractor_xy)
    object_xy.insert(variation.target_index, target_xy)
    slot_xy = [goal_xy, other_xy] if variation.target_slot == 0 else [other_xy, goal_xy]
    return np.asarray(object_xy), np.asarray(slot_xy)


def build_goal(bullet: Bullet, xy: np.ndarray, rgb: tuple[float, float, float]) -> int:
    """A flat square marker lying on the table (no collision shape)."""
    shape = Shape("box", (GOAL_MARKER_HALF_M, GOAL_MARKER_HALF_M, 0.001), (*rgb, 1.0))
    return bullet.create_body([shape], (float(xy[0]), float(xy[1]), 0.001), collide=False)


def is_success(bullet: Bullet, scene: Scene, held: bool) -> bool:
    """Target centre within GOAL_RADIUS_M of the target goal (xy); holding does not matter."""
    lo, hi = scene.target_bounds(bullet)
    centre = (lo[:2] + hi[:2]) / 2
    return bool(np.linalg.norm(centre - scene.target_slot_xy) < GOAL_RADIUS_M)


PUSH = TaskSpec(
    name="push",
    episode_steps=EPISODE_STEPS,
    layout=layout,
    build_slot=build_goal,
    is_success=is_success,
)
