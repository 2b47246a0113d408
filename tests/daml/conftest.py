"""Fixtures shared by tests of daml/: the rosbridge ones (test_bridge.py, test_bringup.py), a
real adapted policy, the policy's outputs around one inner step (test_grow.py,
test_widen_encoder.py), and a tiny `daml train` command line (test_train*.py)."""

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


@pytest.fixture(scope="session")
def outputs_around_adaptation(two_squares):
    """outputs_around_adaptation(learner, fields) -> [before, after], each (T, sum of widths).

    The policy's output `fields` (PolicyOutput names; 1-D ones become one column), concatenated,
    on the robot frames of one synthetic episode (seed 0), with theta as is and after the inner
    step on that episode's human video.
    """
    import torch

    from daml.meta import adapt_theta, policy_pass, theta_of

    def outputs(learner, fields: tuple[str, ...]) -> list:
        episode = two_squares.episode(np.random.default_rng(0))
        human, frames = (
            torch.from_numpy(video).permute(0, 3, 1, 2).contiguous()
            for video in (episode.human_frames, episode.robot_frames)
        )
        states = torch.from_numpy(episode.robot_states)
        theta = theta_of(learner.params)
        adapted, _ = adapt_theta(learner.model, learner.params, human, learner.meta_config)
        passes = [policy_pass(learner.model, p, frames, states) for p in (theta, adapted)]
        columns = [[getattr(out, name) for name in fields] for out in passes]
        return [
            torch.cat([v[:, None] if v.ndim == 1 else v for v in values], dim=1).detach()
            for values in columns
        ]

    return outputs


@pytest.fixture
def config_path(tmp_path, tiny_run_config) -> Path:
    """tiny_run_config as a JSON file for `daml train --config`."""
    path = tmp_path / "cfg.json"
    path.write_text(tiny_run_config.to_json())
    return path


@pytest.fixture
def train_args():
    """Builds a `daml train` argv on one CPU thread with no progress bar:
    train_args(dirs, out, config_path, *extra), where dirs is synthetic_data_dirs or any mapping
    with "train" (one data dir or a list of them) and, optionally, "val" (no --val-data without)."""

    def build(dirs, out, config_path, *extra) -> list[str]:
        train = dirs["train"] if isinstance(dirs["train"], list | tuple) else [dirs["train"]]
        val = ["--val-data", str(dirs["val"])] if "val" in dirs else []
        return [
            "train", "--data", *map(str, train), *val, "--out", str(out),
            "--config", str(config_path), "--device", "cpu", "--threads", "1", "--no-progress",
            *extra,
        ]  # fmt: skip

    return build
