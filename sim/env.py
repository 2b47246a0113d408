"""ManipulationEnv = Panda + task + camera, Gymnasium-style reset/step with fixed-length episodes.

Observation {"image": uint8 (H, W, 3), "state": float32 (4,)}; action float32 (4,) =
[dx, dy, dz in [-1, 1] x MAX_EE_STEP_M, gripper > 0 closes] (docs/ARCHITECTURE.md).
Talks to PyBullet only through sim.bullet. Must not import torch or daml.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sim.bullet import Bullet, Shape
from sim.camera import Camera
from sim.errors import SimError
from sim.robot import Panda
from sim.tasks import Scene, get_task
from sim.variation import Variation, check_task, sample_variation

MAX_EE_STEP_M = 0.06  # end-effector motion per control step at |action| = 1
START_EE = np.array([0.45, 0.0, 0.26])
START_EE_JITTER_M = 0.03
SETTLE_S = 0.5  # physics time for objects to come to rest before the episode starts
TABLE_RGBA = (0.62, 0.5, 0.38, 1.0)


@dataclass(frozen=True)
class EnvConfig:
    """Simulation settings (saved as JSON with datasets).

    Attributes:
        image_px: camera image side in pixels (square RGB).
        control_hz: control steps per simulated second (one action per step).
        episode_steps: fixed episode length T; None means the task's default (40).
        physics_hz: physics steps per simulated second; a multiple of control_hz.
        solver_iterations: constraint solver iterations per physics step (grasp stiffness).
    """

    image_px: int = 64
    control_hz: int = 10
    episode_steps: int | None = None
    physics_hz: int = 160
    solver_iterations: int = 10

    def __post_init__(self) -> None:
        for name in ("image_px", "control_hz", "physics_hz", "solver_iterations", "episode_steps"):
            value = getattr(self, name)
            whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
            if not whole and not (name == "episode_steps" and value is None):
                raise SimError(f"{name}={value!r} must be a whole number")
        if not 16 <= self.image_px <= 512:
            raise SimError(f"image_px={self.image_px} out of range; use 16..512")
        if self.control_hz <= 0 or self.physics_hz <= 0 or self.physics_hz % self.control_hz:
            raise SimError(
                f"physics_hz={self.physics_hz} must be a positive multiple of "
                f"control_hz={self.control_hz}"
            )
        if self.episode_steps is not None and self.episode_steps < 1:
            raise SimError(f"episode_steps={self.episode_steps} must be >= 1 (or None)")
        if self.solver_iterations < 1:
            raise SimError(f"solver_iterations={self.solver_iterations} must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ManipulationEnv:
    """One task in one headless PyBullet client. Use as a context manager or call close()."""

    def __init__(self, task: str, config: EnvConfig | None = None) -> None:
        self.task = check_task(task)
        self.config = config or EnvConfig()
        self.spec = get_task(task)
        self.episode_steps = self.config.episode_steps or self.spec.episode_steps
        self.substeps = self.config.physics_hz // self.config.control_hz
        self.bullet = Bullet()
        self.robot = Panda(self.bullet)
        self.camera = Camera(self.bullet, self.config.image_px)
        self.scene: Scene | None = None
        self.variation: Variation | None = None
        self.step_count = 0
        self.closed = False

    # ------------------------------------------------------------------ API
    def reset(
        self, seed: int | None = None, variation: Variation | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Build the variation's scene (a train variation drawn from `seed` if None).

        `seed` also draws the arm's start position (a few cm of jitter).
        """
        self._check_open()
        if seed is not None and not (isinstance(seed, numbers.Integral) and seed >= 0):
            raise SimError(f"seed={seed!r} must be a whole number >= 0 (or None)")
        rng = np.random.default_rng(seed)
        if variation is None:
            variation = sample_variation(self.task, "train", rng)
        if not isinstance(variation, Variation) or variation.task != self.task:
            raise SimError(f"variation {variation!r} is not a {self.task!r} Variation")
        start = START_EE + rng.uniform(-START_EE_JITTER_M, START_EE_JITTER_M, 3)
        self._build_world(variation, start)
        return self.observe(), self._info()

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Apply one action (4,); returns (obs, reward, terminated, truncated, info)."""
        self._check_open()
        if self.scene is None or self.step_count >= self.episode_steps:
            raise SimError("episode is over or not started; call env.reset() first")
        action = np.asarray(action, dtype=np.float32)
        if action.shape != (4,) or not np.all(np.isfinite(action)):
            raise SimError(f"action must be 4 finite floats [dx, dy, dz, gripper]; got {action!r}")
        self.robot.apply_action(action, MAX_EE_STEP_M)
        self.bullet.step(self.substeps)
        self.step_count += 1
        info = self._info()
        truncated = self.step_count >= self.episode_steps
        return self.observe(), float(info["success"]), False, truncated, info

    def observe(self) -> dict[str, np.ndarray]:
        """{"image": uint8 (H, W, 3), "state": float32 (4,)}."""
        return {"image": self.camera.render(), "state": self.robot.state()}

    def is_success(self, held: bool | None = None) -> bool:
        """Task success from simulator state; `held` defaults to "both fingers touch the target"."""
        if self.scene is None:
            raise SimError("no scene yet; call env.reset() first")
        if held is None:
            held = self.robot.touching(self.scene.target_body)
        return self.spec.is_success(self.bullet, self.scene, held)

    def close(self) -> None:
        self.bullet.close()
        self.closed = True

    def _check_open(self) -> None:
        if self.closed:
            raise SimError("this env is closed; make a new one with sim.make_env")

    def __enter__(self) -> ManipulationEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- internals
    def _build_world(self, variation: Variation, start_ee: np.ndarray) -> None:
        # A fresh world per episode: no contact caches or body ids survive from the previous
        # episode, so the same seed and variation give byte-identical frames.
        b = self.bullet
        b.reset_world(1.0 / self.config.physics_hz, self.config.solver_iterations)
        b.create_body([Shape("box", (0.45, 0.6, 0.02), TABLE_RGBA, (0.0, 0.0, -0.02))], (0.5, 0, 0))
        self.robot.load()
        self.robot.reset(start_ee)
        self.scene = self.spec.build(b, variation)
        b.step(round(SETTLE_S * self.config.physics_hz))
        self.variation = variation
        self.step_count = 0

    def _info(self) -> dict[str, Any]:
        return {"success": self.is_success(), "step": self.step_count, "variation": self.variation}


def make_env(task: str, config: EnvConfig | None = None) -> ManipulationEnv:
    """A new env for `task` ("pick_place" or "push") with its own PyBullet client."""
    return ManipulationEnv(task, config)
