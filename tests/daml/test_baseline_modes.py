"""The baseline training modes of daml.meta: robot-demo adaptation (MIL oracle, BC inner step)
and plain behaviour cloning (inner_steps = 0), through meta-training, validation and adaptation."""

from __future__ import annotations

import pytest
import torch

from daml.adapt import adapt_from_frames, adapt_from_robot_demo
from daml.checkpoint import load_checkpoint
from daml.cli import main
from daml.config import MetaConfig, RunConfig
from daml.data import DemoDataset
from daml.errors import ConfigError
from daml.meta import (
    ALPHA_PREFIX,
    PSI_PREFIX,
    Learner,
    adapt,
    bc_losses,
    meta_loss,
    meta_loss_per_task,
    theta_of,
    validation_losses,
)
from daml.meta_batch import MetaBatch

ROBOT_DEMO = {"inner_source": "robot_demo"}
PLAIN_BC = {"inner_steps": 0}


def synthetic_batch(data_dir, count: int = 3) -> MetaBatch:
    dataset = DemoDataset(data_dir)
    return MetaBatch.from_episodes([dataset[i] for i in range(count)])


def make_learner(model_config, seed: int = 0, **meta) -> Learner:
    return Learner.create(model_config, MetaConfig(**meta), seed)


def demo_bc(learner: Learner, theta, batch: MetaBatch, index: int) -> torch.Tensor:
    return bc_losses(
        learner.model,
        theta,
        batch.robot_frames[index],
        batch.robot_states[index],
        batch.robot_actions[index],
        learner.meta_config,
    )["bc"]


def test_config_accepts_the_modes_and_rejects_bad_values():
    assert MetaConfig(**PLAIN_BC).inner_steps == 0
    assert MetaConfig(**ROBOT_DEMO).inner_source == "robot_demo"
    with pytest.raises(ConfigError, match="inner_source"):
        MetaConfig(inner_source="kinesthetic")
    with pytest.raises(ConfigError, match="inner_steps"):
        MetaConfig(inner_steps=-1)
    raw = {"meta": {"inner_source": "robot_demo", "inner_steps": 1}}
    assert RunConfig.from_json(RunConfig.from_dict(raw).to_json()).meta.inner_source == "robot_demo"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_robot_demo_inner_step_lowers_the_bc_loss_on_that_demo(
    tiny_model, synthetic_data_dirs, seed
):
    learner = make_learner(tiny_model, seed=seed, inner_lr=1e-3, **ROBOT_DEMO)
    batch = synthetic_batch(synthetic_data_dirs["train"])
    for index in range(len(batch)):
        demo = (batch.robot_frames[index], batch.robot_states[index], batch.robot_actions[index])
        adapted = adapt(learner.model, learner.params, demo[0], learner.meta_config, *demo[1:])
        with torch.no_grad():
            before = demo_bc(learner, theta_of(learner.params), batch, index)
            after = demo_bc(learner, adapted, batch, index)
        assert after < before


def test_robot_demo_meta_loss_is_batched_second_order_and_ignores_the_human_video(
    tiny_model, synthetic_data_dirs
):
    learner = make_learner(tiny_model, **ROBOT_DEMO)
    batch = synthetic_batch(synthetic_data_dirs["train"])
    batched, metrics = meta_loss(learner.model, learner.params, batch, learner.meta_config)
    looped, _ = meta_loss_per_task(learner.model, learner.params, batch, learner.meta_config)
    torch.testing.assert_close(batched, looped, rtol=1e-5, atol=1e-6)
    assert metrics["inner"] > 0  # the BC loss before the inner step
    scrambled = MetaBatch(
        human_frames=torch.zeros_like(batch.human_frames),
        robot_frames=batch.robot_frames,
        robot_states=batch.robot_states,
        robot_actions=batch.robot_actions,
    )
    same, _ = meta_loss(learner.model, learner.params, scrambled, learner.meta_config)
    torch.testing.assert_close(same, batched)
    batched.backward()
    alpha_grads = [v.grad for k, v in learner.params.items() if k.startswith(ALPHA_PREFIX)]
    assert any(g is not None and g.abs() > 0 for g in alpha_grads)  # second order reaches alpha
    assert all(v.grad is None for k, v in learner.params.items() if k.startswith(PSI_PREFIX))


def test_plain_bc_meta_loss_equals_bc_of_theta(tiny_model, synthetic_data_dirs):
    learner = make_learner(tiny_model, **PLAIN_BC)
    batch = synthetic_batch(synthetic_data_dirs["train"], count=4)
    loss, metrics = meta_loss(learner.model, learner.params, batch, learner.meta_config)
    theta = theta_of(learner.params)
    expected = torch.stack(
        [
            bc_losses(
                learner.model,
                theta,
                batch.robot_frames[i],
                batch.robot_states[i],
                batch.robot_actions[i],
                learner.meta_config,
            )["total"]
            for i in range(len(batch))
        ]
    ).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    assert metrics["inner"] == 0.0
    loss.backward()
    assert all(v.grad is not None for v in theta.values())
    assert all(v.grad is None for k, v in learner.params.items() if k not in theta)


def test_plain_bc_validation_and_adaptation_leave_theta_as_is(tiny_model, synthetic_data_dirs):
    learner = make_learner(tiny_model, **PLAIN_BC)
    batch = synthetic_batch(synthetic_data_dirs["val"])
    result = validation_losses(learner.model, learner.params, batch, learner.meta_config)
    assert result["pre_bc"] == pytest.approx(result["post_bc"]) and result["inner"] == 0.0
    policy = adapt_from_frames(learner, DemoDataset(synthetic_data_dirs["val"])[0].human_frames)
    for name, value in theta_of(learner.params).items():
        assert torch.equal(policy.params[name], value.detach()), name


def test_robot_demo_checkpoint_refuses_a_human_video_and_adapts_on_a_robot_demo(
    tiny_model, synthetic_data_dirs
):
    learner = make_learner(tiny_model, **ROBOT_DEMO)
    episode = DemoDataset(synthetic_data_dirs["val"])[0]
    with pytest.raises(ConfigError, match="robot demo"):
        adapt_from_frames(learner, episode.human_frames)
    policy = adapt_from_robot_demo(
        learner, episode.robot_frames, episode.robot_states, episode.robot_actions
    )
    theta = theta_of(learner.params)
    assert any(not torch.equal(policy.params[k], v.detach()) for k, v in theta.items())
    action = policy.act(episode.robot_frames[0], episode.robot_states[0])
    assert action.shape == (4,)


@pytest.mark.parametrize("meta", [ROBOT_DEMO, PLAIN_BC], ids=["robot_demo", "plain_bc"])
def test_daml_train_runs_each_baseline_mode(
    train_args, tmp_path, synthetic_data_dirs, config_path, meta, capsys
):
    out = tmp_path / "run"
    mode = [arg for key, value in meta.items() for arg in ("--set", f"meta.{key}={value}")]
    assert main(train_args(synthetic_data_dirs, out, config_path, *mode)) == 0
    assert "trained 4 steps" in capsys.readouterr().out
    expected = MetaConfig(**meta)
    best = load_checkpoint(out / "best.pt", kind="meta")
    assert best.config.meta.inner_source == expected.inner_source
    assert best.config.meta.inner_steps == expected.inner_steps
    last = load_checkpoint(out / "last.pt", kind="meta")
    fresh = Learner.create(last.config.model, last.config.meta, 0).params
    changed = [k for k in theta_of(fresh) if not torch.equal(fresh[k], last.params[k])]
    assert changed  # the outer BC loss trained theta
