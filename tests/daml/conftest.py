"""Fixtures shared by the rosbridge tests (test_bridge.py, test_bringup.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (free when asked)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def adapted_policy(tmp_path_factory, tiny_model_factory) -> Path:
    """A real AdaptedPolicy file: a tiny 64px learner adapted on a sim demo video."""
    import sim
    from daml.adapt import adapt_from_frames
    from daml.config import MetaConfig
    from daml.meta import Learner

    model = tiny_model_factory(image_px=64, episode_steps=40, conv_strides=(2, 2))
    learner = Learner.create(model, MetaConfig(), seed=0)
    with sim.make_env("pick_place", sim.EnvConfig(image_px=64)) as env:
        variation = sim.sample_variation("pick_place", "test", np.random.default_rng(0))
        frames = sim.robot_demo(env, variation, seed=0)["frames"]
    path = tmp_path_factory.mktemp("policy") / "adapted.pt"
    adapt_from_frames(learner, frames).save(path)
    return path
