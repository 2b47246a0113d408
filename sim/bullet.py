"""The only module that imports pybullet / pybullet_data: one headless DIRECT client per instance.

Bodies, constraints and the tiny-renderer camera are reached through `Bullet`'s methods (as
panda-gym's `pybullet.py` does). Must not import torch or daml.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))  # libc.so.6 on Linux, libc.dylib on macOS


@contextlib.contextmanager
def _native_output_silenced() -> Iterator[None]:
    """Silence fds 1 and 2 for a moment: pybullet's C code prints banners ("pybullet build
    time", "argv[0]=") straight to them, where they would mix with the commands' own output.
    Python exceptions still propagate and are reported after the fds are restored."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in saved:
            os.dup2(devnull, fd)
        yield
    finally:
        _LIBC.fflush(None)  # C stdio may still hold the banner in its buffer
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


with _native_output_silenced():
    import pybullet
    import pybullet_data
    from pybullet_utils import bullet_client

Vec3 = Sequence[float]
TOP_DOWN_QUAT = (1.0, 0.0, 0.0, 0.0)  # gripper pointing straight down (180 deg about x)


def data_path() -> str:
    """Directory of the pybullet_data package (Panda URDF, random_urdfs, ...)."""
    return pybullet_data.getDataPath()


def quat_to_matrix(quat: Sequence[float]) -> np.ndarray:
    """Rotation matrix (3, 3) of a unit quaternion given as (x, y, z, w)."""
    x, y, z, w = quat
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


@dataclass(frozen=True)
class Light:
    """Tiny-renderer lighting: direction (x, y, z), ambient/diffuse/specular coefficients."""

    direction: tuple[float, float, float] = (0.4, -0.6, 1.0)
    ambient: float = 0.55
    diffuse: float = 0.5
    specular: float = 0.05


@dataclass(frozen=True)
class Shape:
    """One primitive of a compound body: kind box|capsule|cylinder|sphere, sizes in metres.

    `size` is (half_x, half_y, half_z) for a box, (radius, length) for capsule/cylinder and
    (radius,) for a sphere; `offset` is the shape's position in the body frame and `euler` its
    orientation (radians).
    """

    kind: str
    size: tuple[float, ...]
    rgba: tuple[float, float, float, float]
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    euler: tuple[float, float, float] = (0.0, 0.0, 0.0)


class Bullet:
    """A headless PyBullet client (DIRECT) with the handful of calls the sim package needs."""

    def __init__(self) -> None:
        with _native_output_silenced():
            self._p = bullet_client.BulletClient(connection_mode=pybullet.DIRECT)

    # ------------------------------------------------------------------ world
    def reset_world(self, timestep_s: float, solver_iterations: int) -> None:
        """Empty the world and set gravity, timestep and solver iterations."""
        p = self._p
        p.resetSimulation()
        # Scene building with rendering off, as panda-gym does (a no-op cost-wise in DIRECT).
        p.configureDebugVisualizer(p.COV_ENABLE_RENDERING, 0)
        p.setPhysicsEngineParameter(
            fixedTimeStep=timestep_s,
            numSolverIterations=solver_iterations,
            deterministicOverlappingPairs=1,
        )
        p.setGravity(0.0, 0.0, -9.81)

    def step(self, substeps: int) -> None:
        """Advance the physics by `substeps` fixed timesteps."""
        for _ in range(substeps):
            self._p.stepSimulation()

    def close(self) -> None:
        """Disconnect the client (safe to call twice)."""
        if self._p is not None:
            self._p.disconnect()
            self._p = None

    # ----------------------------------------------------------------- bodies
    def load_urdf(
        self,
        path: str,
        position: Vec3,
        quat: Sequence[float] = (0.0, 0.0, 0.0, 1.0),
        fixed: bool = False,
        scale: float = 1.0,
    ) -> int:
        """Load a URDF at `position` / `quat` (x, y, z, w); returns the body id."""
        flags = self._p.URDF_ENABLE_CACHED_GRAPHICS_SHAPES
        return self._p.loadURDF(
            path, list(position), list(quat), useFixedBase=fixed, globalScaling=scale, flags=flags
        )

    def rotate_z(self, quat: Sequence[float], yaw: float) -> tuple[float, float, float, float]:
        """`quat` (x, y, z, w) followed by a world rotation of `yaw` radians about z."""
        turn = self._p.getQuaternionFromEuler((0.0, 0.0, yaw))
        return tuple(self._p.multiplyTransforms((0, 0, 0), turn, (0, 0, 0), list(quat))[1])

    def create_body(
        self, shapes: Sequence[Shape], position: Vec3, mass: float = 0.0, collide: bool = True
    ) -> int:
        """Build one rigid body out of primitive shapes (visual = collision geometry).

        `collide=False` makes a visual-only body (e.g. a flat goal marker).
        """
        p = self._p
        kinds = {
            "box": p.GEOM_BOX,
            "capsule": p.GEOM_CAPSULE,
            "cylinder": p.GEOM_CYLINDER,
            "sphere": p.GEOM_SPHERE,
        }
        col_args: dict[str, list] = {k: [] for k in ("shapeTypes", "radii", "halfExtents")}
        col_args.update(lengths=[], collisionFramePositions=[], collisionFrameOrientations=[])
        vis_args: dict[str, list] = {k: [] for k in ("shapeTypes", "radii", "halfExtents")}
        vis_args.update(lengths=[], rgbaColors=[], visualFramePositions=[])
        vis_args["visualFrameOrientations"] = []
        for shape in shapes:
            if shape.kind not in kinds:
                raise ValueError(f"unknown shape kind {shape.kind!r}; use one of {sorted(kinds)}")
            half = shape.size if shape.kind == "box" else (0.0, 0.0, 0.0)
            radius = shape.size[0] if shape.kind != "box" else 0.0
            length = shape.size[1] if shape.kind in ("capsule", "cylinder") else 0.0
            quat = p.getQuaternionFromEuler(shape.euler)
            for args in (col_args, vis_args):
                args["shapeTypes"].append(kinds[shape.kind])
                args["radii"].append(radius)
                args["halfExtents"].append(list(half))
                args["lengths"].append(length)
            col_args["collisionFramePositions"].append(list(shape.offset))
            col_args["collisionFrameOrientations"].append(quat)
            vis_args["visualFramePositions"].append(list(shape.offset))
            vis_args["visualFrameOrientations"].append(quat)
            vis_args["rgbaColors"].append(list(shape.rgba))
        col = p.createCollisionShapeArray(**col_args) if collide else -1
        vis = p.createVisualShapeArray(**vis_args)
        return p.createMultiBody(mass, col, vis, basePosition=list(position))

    def set_color(self, body: int, link: int, rgba: Sequence[float]) -> None:
        """Recolour one link's visual shapes (-1 = base)."""
        self._p.changeVisualShape(body, link, rgbaColor=list(rgba))

    def set_dynamics(self, body: int, link: int, **kwargs: float) -> None:
        """Forward to changeDynamics (lateralFriction, spinningFriction, mass, ...)."""
        self._p.changeDynamics(body, link, **kwargs)

    def collide_only_with(self, body: int, others: Sequence[int]) -> None:
        """Make `body` (base only) collide with the bases of `others` and nothing else."""
        self._p.setCollisionFilterGroupMask(body, -1, 0, 0)
        for other in others:  # an explicit pair filter overrides the group masks
            self._p.setCollisionFilterPair(body, other, -1, -1, 1)

    def pose(self, body: int) -> tuple[np.ndarray, np.ndarray]:
        """Base position (3,) and quaternion xyzw (4,) of a body."""
        pos, orn = self._p.getBasePositionAndOrientation(body)
        return np.asarray(pos), np.asarray(orn)

    def set_pose(self, body: int, position: Vec3, quat: Sequence[float] = (0, 0, 0, 1)) -> None:
        """Teleport a body's base (velocities untouched)."""
        self._p.resetBasePositionAndOrientation(body, list(position), list(quat))

    def contact_count(self, body_a: int, body_b: int, link_a: int) -> int:
        """Number of contact points between `body_a`'s link `link_a` and `body_b`."""
        return len(self._p.getContactPoints(bodyA=body_a, bodyB=body_b, linkIndexA=link_a))

    # ----------------------------------------------------------------- joints
    def joint_positions(self, body: int, joints: Sequence[int]) -> np.ndarray:
        """Positions (J,) of the given joints."""
        return np.array([s[0] for s in self._p.getJointStates(body, list(joints))])

    def reset_joints(self, body: int, joints: Sequence[int], positions: Sequence[float]) -> None:
        """Teleport joints (zero velocity)."""
        for joint, q in zip(joints, positions, strict=True):
            self._p.resetJointState(body, joint, float(q))

    def drive_joints(
        self, body: int, joints: Sequence[int], targets: Sequence[float], forces: Sequence[float]
    ) -> None:
        """Position-control the joints toward `targets` with at most `forces` (N or N m)."""
        self._p.setJointMotorControlArray(
            body, list(joints), self._p.POSITION_CONTROL, list(targets), forces=list(forces)
        )

    def link_position(self, body: int, link: int) -> np.ndarray:
        """World position (3,) of a link frame."""
        return np.asarray(self._p.getLinkState(body, link, computeForwardKinematics=True)[4])

    def inverse_kinematics(
        self, body: int, link: int, position: Vec3, quat: Sequence[float], rest: Sequence[float]
    ) -> np.ndarray:
        """Joint targets (all movable joints) that put `link` at `position`/`quat`."""
        q = self._p.calculateInverseKinematics(
            body,
            link,
            list(position),
            list(quat),
            restPoses=list(rest),
            maxNumIterations=20,
            residualThreshold=1e-4,
        )
        return np.asarray(q)

    # ------------------------------------------------------------ constraints
    def gear_constraint(self, body: int, link_a: int, link_b: int, max_force: float) -> int:
        """Couple two prismatic fingers to move symmetrically (pybullet pandaGraspTest)."""
        p = self._p
        c = p.createConstraint(
            body, link_a, body, link_b, p.JOINT_GEAR, [1, 0, 0], [0, 0, 0], [0, 0, 0]
        )
        p.changeConstraint(c, gearRatio=-1, erp=0.1, maxForce=max_force)
        return c

    def fixed_constraint(self, parent: int, child: int, max_force: float) -> int:
        """Weld `child`'s base to `parent`'s base in their current relative pose."""
        p = self._p
        ppos, porn = p.getBasePositionAndOrientation(parent)
        cpos, corn = p.getBasePositionAndOrientation(child)
        inv_pos, inv_orn = p.invertTransform(ppos, porn)
        rel_pos, rel_orn = p.multiplyTransforms(inv_pos, inv_orn, cpos, corn)
        c = p.createConstraint(
            parent, -1, child, -1, p.JOINT_FIXED, [0, 0, 0], rel_pos, [0, 0, 0], rel_orn
        )
        p.changeConstraint(c, maxForce=max_force)
        return c

    def world_anchor(self, body: int, max_force: float) -> int:
        """A fixed constraint holding `body` at a movable world pose (see `move_anchor`)."""
        p = self._p
        pos, orn = p.getBasePositionAndOrientation(body)
        c = p.createConstraint(
            body, -1, -1, -1, p.JOINT_FIXED, [0, 0, 0], [0, 0, 0], pos, None, orn
        )
        p.changeConstraint(c, maxForce=max_force)
        return c

    def move_anchor(self, constraint: int, position: Vec3, max_force: float) -> None:
        """Move a `world_anchor` constraint's target position."""
        self._p.changeConstraint(constraint, jointChildPivot=list(position), maxForce=max_force)

    def remove_constraint(self, constraint: int) -> None:
        self._p.removeConstraint(constraint)

    # ----------------------------------------------------------------- camera
    def camera_matrices(
        self, eye: Vec3, target: Vec3, fov_deg: float, near: float = 0.05, far: float = 3.0
    ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(view, projection) matrices for a square image looking from `eye` to `target`."""
        view = self._p.computeViewMatrix(list(eye), list(target), [0, 0, 1])
        proj = self._p.computeProjectionMatrixFOV(fov_deg, 1.0, near, far)
        return view, proj

    def render(
        self, px: int, view: Sequence[float], proj: Sequence[float], light: Light
    ) -> np.ndarray:
        """RGB image uint8 (px, px, 3) from the CPU tiny renderer (deterministic)."""
        return self._camera_image(px, view, proj, light, segmentation=False)[0]

    def render_segmented(
        self, px: int, view: Sequence[float], proj: Sequence[float], light: Light
    ) -> tuple[np.ndarray, np.ndarray]:
        """RGB uint8 (px, px, 3) as `render` gives it, and int32 (px, px) the body id seen at
        each pixel (-1: background)."""
        return self._camera_image(px, view, proj, light, segmentation=True)

    def _camera_image(
        self,
        px: int,
        view: Sequence[float],
        proj: Sequence[float],
        light: Light,
        segmentation: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        p = self._p
        _, _, rgba, _, seg = p.getCameraImage(
            px,
            px,
            viewMatrix=view,
            projectionMatrix=proj,
            renderer=p.ER_TINY_RENDERER,
            flags=0 if segmentation else p.ER_NO_SEGMENTATION_MASK,
            shadow=0,
            lightDirection=list(light.direction),
            lightAmbientCoeff=light.ambient,
            lightDiffuseCoeff=light.diffuse,
            lightSpecularCoeff=light.specular,
        )
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(px, px, 4)[:, :, :3].copy()
        ids = np.asarray(seg, dtype=np.int32).reshape(px, px) if segmentation else None
        return rgb, ids
