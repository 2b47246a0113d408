"""The Franka Panda: low-poly body, end-effector delta control through IK, geared parallel gripper.

Talks to PyBullet only through sim.bullet. Must not import torch or daml.
"""

from __future__ import annotations

import numpy as np

from sim.bullet import TOP_DOWN_QUAT, Bullet
from sim.lowpoly import lowpoly_panda_urdf

ARM_JOINTS = (0, 1, 2, 3, 4, 5, 6)
FINGER_JOINTS = (9, 10)
EE_LINK = 11  # panda_grasptarget: between the fingertips
FINGER_OPEN_M = 0.04  # per finger; the gap is twice this
# A comfortable elbow-up posture (panda-gym's neutral pose) used as IK rest pose.
NEUTRAL_Q = (0.0, 0.41, 0.0, -1.85, 0.0, 2.26, 0.79)
ARM_FORCE_N = 240.0
FINGER_FORCE_N = 15.0
GEAR_FORCE_N = 20.0
FINGER_FRICTION = 1.5
# End-effector workspace box (metres, world frame); targets are clamped into it.
WORKSPACE_LOW = np.array([0.25, -0.35, 0.005])
WORKSPACE_HIGH = np.array([0.75, 0.35, 0.40])
PARK_POSITION = (0.0, 0.0, -20.0)  # far below the table: out of the camera's view
LINK_COLORS = {
    **{link: (0.92, 0.92, 0.92, 1.0) for link in range(-1, 7)},
    **{link: (0.25, 0.25, 0.28, 1.0) for link in (3, 5, 8)},
    9: (0.15, 0.15, 0.15, 1.0),
    10: (0.15, 0.15, 0.15, 1.0),
}


class Panda:
    """One Panda arm in a `Bullet` world. Call `load` after every world reset."""

    def __init__(self, bullet: Bullet) -> None:
        self.bullet = bullet
        self.body = -1
        self._gripper_closed = False

    def load(self) -> None:
        """Add the arm (fixed base at the origin), colour it and couple the fingers."""
        b = self.bullet
        self.body = b.load_urdf(lowpoly_panda_urdf(), (0.0, 0.0, 0.0), fixed=True)
        for link, rgba in LINK_COLORS.items():
            b.set_color(self.body, link, rgba)
        for finger in FINGER_JOINTS:
            b.set_dynamics(
                self.body, finger, lateralFriction=FINGER_FRICTION, spinningFriction=0.05
            )
        b.gear_constraint(self.body, FINGER_JOINTS[0], FINGER_JOINTS[1], GEAR_FORCE_N)

    def reset(self, ee_position: np.ndarray) -> None:
        """Teleport the arm so the end effector is at `ee_position` (3,), gripper open."""
        b = self.bullet
        b.reset_joints(self.body, ARM_JOINTS, NEUTRAL_Q)
        b.reset_joints(self.body, FINGER_JOINTS, (FINGER_OPEN_M, FINGER_OPEN_M))
        for _ in range(4):  # IK from the current posture; a few rounds converge to ~1e-4 m
            q = self._ik(ee_position)
            b.reset_joints(self.body, ARM_JOINTS, q)
        self._gripper_closed = False
        self._drive(q)

    def apply_action(self, action: np.ndarray, max_step_m: float) -> None:
        """Set motor targets for one control step from a contract action (4,).

        The new end-effector target is the current position plus `action[:3]` (clipped to
        [-1, 1]) times `max_step_m`, clamped into the workspace; `action[3] > 0` closes.
        """
        motion = np.clip(np.asarray(action[:3], dtype=np.float64), -1.0, 1.0) * max_step_m
        target = np.clip(self.ee_position() + motion, WORKSPACE_LOW, WORKSPACE_HIGH)
        self._gripper_closed = bool(action[3] > 0)
        self._drive(self._ik(target))

    def ee_position(self) -> np.ndarray:
        """End-effector (grasp point) position (3,) in metres."""
        return self.bullet.link_position(self.body, EE_LINK)

    def finger_gap(self) -> float:
        """Distance between the fingers in metres (0 .. 0.08)."""
        return float(self.bullet.joint_positions(self.body, FINGER_JOINTS).sum())

    def state(self) -> np.ndarray:
        """Robot state float32 (4,): end-effector xyz and finger gap."""
        return np.append(self.ee_position(), self.finger_gap()).astype(np.float32)

    def touching(self, body: int) -> bool:
        """Whether both fingers touch `body` (a grasp)."""
        return all(self.bullet.contact_count(self.body, body, f) > 0 for f in FINGER_JOINTS)

    def park(self) -> None:
        """Teleport the whole arm far out of the camera's view (human-like demos)."""
        self.bullet.set_pose(self.body, PARK_POSITION)

    def _ik(self, position: np.ndarray) -> np.ndarray:
        rest = (*NEUTRAL_Q, FINGER_OPEN_M, FINGER_OPEN_M)
        q = self.bullet.inverse_kinematics(self.body, EE_LINK, position, TOP_DOWN_QUAT, rest)
        return q[: len(ARM_JOINTS)]

    def _drive(self, arm_q: np.ndarray) -> None:
        finger = 0.0 if self._gripper_closed else FINGER_OPEN_M
        targets = (*arm_q, finger, finger)
        forces = (ARM_FORCE_N,) * len(ARM_JOINTS) + (FINGER_FORCE_N,) * 2
        self.bullet.drive_joints(self.body, ARM_JOINTS + FINGER_JOINTS, targets, forces)
