"""The Panda's gripper really holds an object: grasp, lift and carry with the expert's plan."""

from __future__ import annotations

import numpy as np

import sim
from sim.bullet import Bullet
from sim.env import EnvConfig
from sim.objects import pool_object
from sim.pool_builder import grasp_and_lift


def test_gripper_holds_objects_while_lifting_and_carrying() -> None:
    bullet = Bullet()
    try:
        ids = sim.object_split("train")[:3]
        held = [
            grasp_and_lift(bullet, oid, pool_object(oid), np.array([0.5, -0.1]), EnvConfig())
            for oid in ids
        ]
    finally:
        bullet.close()
    assert all(held), dict(zip(ids, held, strict=True))


def test_gripper_opens_again_after_closing() -> None:
    with sim.make_env("push") as env:
        obs, _ = env.reset(seed=0)
        assert obs["state"][3] > 0.075  # starts open
        for _ in range(3):
            obs, *_ = env.step(np.array([0.0, 0.0, 0.0, 1.0]))
        closed = obs["state"][3]
        for _ in range(3):
            obs, *_ = env.step(np.array([0.0, 0.0, 0.0, -1.0]))
        assert closed < 0.005 and obs["state"][3] > 0.075
