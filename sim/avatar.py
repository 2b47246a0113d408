"""The human-like demonstrator: the expert's plan performed by a primitive hand/forearm avatar
(the robot parked out of view) under a jittered camera and light. Frames only.

Must not import pybullet (goes through sim.bullet), torch or daml.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sim.bullet import Bullet, Shape
from sim.camera import Camera, jittered_light, jittered_pose
from sim.env import ManipulationEnv
from sim.errors import SimError
from sim.experts import desired_position, plan
from sim.variation import Variation, check_generator, check_split

SHAPES = ("box", "capsule", "cylinder")
# Disjoint hue bands per split, so evaluation can use avatar colours never seen in training.
HUE_BANDS = {"train": (0.0, 0.55), "val": (0.55, 0.7), "test": (0.7, 1.0)}
SIZE_RANGE = (0.8, 1.25)
SATURATION_RANGE = (0.55, 0.9)  # HSV saturation and value of an avatar's colour
VALUE_RANGE = (0.55, 0.95)
FOREARM_AXIS = np.array([0.35, -0.55, 0.75]) / np.linalg.norm([0.35, -0.55, 0.75])
FOREARM_LENGTH_M = 0.24
AVATAR_MASS_KG = 1.0
ANCHOR_FORCE_N = 2000.0
CARRY_FORCE_N = 300.0
HAND_DROP_M = 0.012  # hand bottom below the grasp point (Panda fingertips: 1.1 cm)
HUMAN_STREAM = 7  # SeedSequence spawn key: the human demo's camera/light jitter stream


@dataclass(frozen=True)
class AvatarLook:
    """How the demonstrator looks: RGB colour in 0..1, primitive shape, size scale."""

    color: tuple[float, float, float]
    shape: str
    size: float

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise SimError(f"avatar shape {self.shape!r} unknown; use one of {', '.join(SHAPES)}")
        if len(self.color) != 3 or not all(0.0 <= c <= 1.0 for c in self.color):
            raise SimError(f"avatar color {self.color} must be three floats in [0, 1]")
        if not 0.5 <= self.size <= 2.0:
            raise SimError(f"avatar size {self.size} out of range; use 0.5..2.0")

    @property
    def hue(self) -> float:
        """HSV hue in [0, 1)."""
        return colorsys.rgb_to_hsv(*self.color)[0]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "color": list(self.color)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AvatarLook:
        try:
            color = tuple(float(c) for c in data["color"])
            return cls(color=color, shape=str(data["shape"]), size=float(data["size"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise SimError(f"bad avatar look dict {data!r}: {exc}") from exc


def sample_look(split: str, rng: np.random.Generator) -> AvatarLook:
    """A look whose hue lies in `split`'s band (train, val and test bands are disjoint)."""
    low, high = HUE_BANDS[check_split(split)]
    hue = check_generator(rng).uniform(low, high)
    rgb = colorsys.hsv_to_rgb(hue, rng.uniform(*SATURATION_RANGE), rng.uniform(*VALUE_RANGE))
    return AvatarLook(
        color=tuple(round(c, 4) for c in rgb),
        shape=SHAPES[int(rng.integers(len(SHAPES)))],
        size=round(float(rng.uniform(*SIZE_RANGE)), 4),
    )


def _hand_shapes(look: AvatarLook) -> tuple[list[Shape], float]:
    """Hand + forearm primitives (base frame = grasp point) and the hand's horizontal half size.

    Every hand is 5 cm x size tall, its bottom HAND_DROP_M below the grasp point (where the
    Panda's fingertips are), so it pushes objects low, as the fingers do.
    """
    s, rgba = look.size, (*look.color, 1.0)
    half_height = 0.025 * s
    centre = (0.0, 0.0, half_height - HAND_DROP_M)
    if look.shape == "box":
        hand = Shape("box", (0.028 * s, 0.036 * s, half_height), rgba, centre)
        half = 0.032 * s
    elif look.shape == "capsule":  # lying across the fingers' direction (world y)
        hand = Shape("capsule", (half_height, 0.05 * s), rgba, centre, (math.pi / 2, 0, 0))
        half = 0.0375 * s
    else:
        hand = Shape("cylinder", (0.032 * s, 2 * half_height), rgba, centre)
        half = 0.032 * s
    top = 2 * half_height - HAND_DROP_M
    roll = -math.asin(FOREARM_AXIS[1])
    pitch = math.atan2(FOREARM_AXIS[0], FOREARM_AXIS[2])
    centre = np.array([0.0, 0.0, top]) + FOREARM_AXIS * (FOREARM_LENGTH_M / 2)
    if look.shape == "box":
        size = (0.024 * s, 0.03 * s, FOREARM_LENGTH_M / 2)
    else:
        size = (0.026 * s, FOREARM_LENGTH_M)
    forearm = Shape(look.shape, size, rgba, tuple(centre.tolist()), (roll, pitch, 0.0))
    return [hand, forearm], half


class Avatar:
    """A kinematically driven hand: a dynamic body pinned to a movable world anchor, so it
    pushes objects physically; it carries an object with a fixed constraint while grasping."""

    def __init__(self, bullet: Bullet, look: AvatarLook, start: np.ndarray) -> None:
        self.bullet = bullet
        shapes, self.half_m = _hand_shapes(look)
        self.body = bullet.create_body(shapes, start, mass=AVATAR_MASS_KG)
        self.anchor = bullet.world_anchor(self.body, ANCHOR_FORCE_N)
        self.target = np.asarray(start, dtype=np.float64)
        self.carry: int | None = None

    def position(self) -> np.ndarray:
        """Grasp point (3,) in metres."""
        return self.bullet.pose(self.body)[0]

    def move(self, desired: np.ndarray, substeps: int) -> None:
        """Slide the anchor linearly to `desired` (3,) over `substeps` physics steps."""
        start = self.target
        for k in range(1, substeps + 1):
            self.bullet.move_anchor(
                self.anchor, start + (desired - start) * k / substeps, ANCHOR_FORCE_N
            )
            self.bullet.step(1)
        self.target = np.asarray(desired, dtype=np.float64)

    def grip(self, close: bool, body: int) -> None:
        """Weld `body` to the hand when closing, let it go when opening."""
        if close and self.carry is None:
            self.carry = self.bullet.fixed_constraint(self.body, body, CARRY_FORCE_N)
        elif not close and self.carry is not None:
            self.bullet.remove_constraint(self.carry)
            self.carry = None


def human_demo(
    env: ManipulationEnv, variation: Variation, look: AvatarLook, seed: int
) -> dict[str, Any]:
    """Perform the expert's plan for `variation` with an avatar; exactly T frames, no actions.

    The scene and start point match `robot_demo(env, variation, seed)`; `seed` also draws the
    camera-pose and lighting jitter. The env must be reset before its next use.

    Returns:
        {"frames": uint8 (T, H, W, 3), "avatar_masks": bool (T, H, W) the pixels showing the
        avatar (hand and forearm), "success": bool}
    """
    env.reset(seed=seed, variation=variation)
    jitter = np.random.default_rng(np.random.SeedSequence([seed, HUMAN_STREAM]))
    camera = Camera(env.bullet, env.config.image_px, jittered_pose(jitter), jittered_light(jitter))
    start = env.robot.ee_position()
    env.robot.park()
    avatar = Avatar(env.bullet, look, start)
    target = env.scene.target_body
    carries = env.task == "pick_place"
    env.bullet.collide_only_with(avatar.body, [] if carries else [target])
    trajectory = plan(env, start, pusher_half_m=avatar.half_m)
    frames, masks = [], []
    for t in range(env.episode_steps):
        frame, mask = camera.render_with_mask(avatar.body)
        frames.append(frame)
        masks.append(mask)
        if carries:
            avatar.grip(trajectory.grippers[t] > 0, target)
        avatar.move(desired_position(env, trajectory, t, avatar.position()), env.substeps)
    success = env.is_success(held=avatar.carry is not None)
    env.step_count = env.episode_steps  # the arm is parked under an avatar: reset before a step
    return {"frames": np.stack(frames), "avatar_masks": np.stack(masks), "success": bool(success)}
