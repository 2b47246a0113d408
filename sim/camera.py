"""The fixed RGB camera (tiny renderer) and its per-demo pose / lighting jitter.

Talks to PyBullet only through sim.bullet. Must not import torch or daml.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from sim.bullet import Bullet, Light


@dataclass(frozen=True)
class CameraPose:
    """Where the camera looks from and at (world metres) and its vertical field of view."""

    eye: tuple[float, float, float] = (1.05, 0.3, 0.8)
    target: tuple[float, float, float] = (0.48, 0.0, 0.06)
    fov_deg: float = 42.0


DEFAULT_POSE = CameraPose()
DEFAULT_LIGHT = Light()
EYE_JITTER_M = 0.03
TARGET_JITTER_M = 0.015
FOV_JITTER_DEG = 1.5


class Camera:
    """Renders uint8 (px, px, 3) RGB frames of a `Bullet` world from one pose and light."""

    def __init__(
        self, bullet: Bullet, px: int, pose: CameraPose = DEFAULT_POSE, light: Light = DEFAULT_LIGHT
    ) -> None:
        self.bullet = bullet
        self.px = px
        self.light = light
        self.pose = pose
        self._matrices = bullet.camera_matrices(pose.eye, pose.target, pose.fov_deg)

    def render(self) -> np.ndarray:
        """One RGB frame uint8 (px, px, 3)."""
        view, proj = self._matrices
        return self.bullet.render(self.px, view, proj, self.light)

    def render_with_mask(self, body: int) -> tuple[np.ndarray, np.ndarray]:
        """One RGB frame uint8 (px, px, 3), the same `render` gives, and bool (px, px): the
        pixels where `body` is the visible surface."""
        view, proj = self._matrices
        frame, ids = self.bullet.render_segmented(self.px, view, proj, self.light)
        return frame, ids == body


def jittered_pose(rng: np.random.Generator, pose: CameraPose = DEFAULT_POSE) -> CameraPose:
    """A small random perturbation of the camera pose (a few cm, a degree or two)."""
    eye = np.asarray(pose.eye) + rng.uniform(-EYE_JITTER_M, EYE_JITTER_M, 3)
    target = np.asarray(pose.target) + rng.uniform(-TARGET_JITTER_M, TARGET_JITTER_M, 3)
    fov = pose.fov_deg + rng.uniform(-FOV_JITTER_DEG, FOV_JITTER_DEG)
    return replace(pose, eye=tuple(eye.tolist()), target=tuple(target.tolist()), fov_deg=fov)


def jittered_light(rng: np.random.Generator) -> Light:
    """Random light direction (from above), ambient and diffuse coefficients."""
    azimuth = rng.uniform(0.0, 2 * np.pi)
    elevation = rng.uniform(0.6, 1.4)
    direction = (np.cos(azimuth), np.sin(azimuth), np.tan(elevation))
    return Light(
        direction=tuple(float(d) for d in direction),
        ambient=float(rng.uniform(0.4, 0.7)),
        diffuse=float(rng.uniform(0.3, 0.6)),
        specular=float(rng.uniform(0.0, 0.1)),
    )
