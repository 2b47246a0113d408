"""The math of the bi-level algorithm: gradients reach psi and alpha, the inner step lowers the
inner loss, and the batched vmap path equals an independent per-task autograd reference."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from daml.config import MetaConfig
from daml.luminance import luminance_frames
from daml.meta import (
    ALPHA_PREFIX,
    FIRST_ORDER_WARNING,
    PSI_PREFIX,
    Learner,
    adapt,
    adapt_theta,
    inner_loss,
    meta_loss,
    meta_loss_per_task,
    theta_of,
    trainable_params,
    validation_losses,
)
from daml.meta_batch import MetaBatch
from daml.policy import aux_target_position
from tests.daml.meta_batches import T, gradients, make_learner, random_batch


# ----------------------------------------------------------- independent per-task reference
def reference_meta_loss(learner: Learner, batch: MetaBatch) -> torch.Tensor:
    """Plain Python loop over tasks, torch.autograd.grad(create_graph=True) for the inner step,
    losses written out here rather than taken from daml.meta."""
    model, params, meta = learner.model, learner.params, learner.meta_config
    config = model.config
    theta_names = [k for k in params if k.startswith(("encoder.", "policy."))]
    psi = {k[len(PSI_PREFIX) :]: v for k, v in params.items() if k.startswith(PSI_PREFIX)}
    mean = torch.tensor(config.state_mean, dtype=batch.robot_states.dtype)
    std = torch.tensor(config.state_std, dtype=batch.robot_states.dtype)

    def forward(theta, frames, states):
        enc = {k[len("encoder.") :]: v for k, v in theta.items() if k.startswith("encoder.")}
        pol = {k[len("policy.") :]: v for k, v in theta.items() if k.startswith("policy.")}
        points = functional_call(model.encoder, enc, (frames,))
        return functional_call(model.policy, pol, (points, states))

    task_losses = []
    for i in range(len(batch)):
        theta = {k: params[k] for k in theta_names}
        for _ in range(meta.inner_steps):
            zeros = torch.zeros(T, 4, dtype=batch.robot_states.dtype)
            hidden = forward(theta, batch.human_frames[i], zeros).hidden
            loss = functional_call(model.temporal_loss, psi, (hidden,))
            grads = torch.autograd.grad(
                loss, list(theta.values()), create_graph=meta.second_order, allow_unused=True
            )
            theta = {
                name: value
                - params[ALPHA_PREFIX + name]
                * (torch.zeros_like(value) if g is None else g).clamp(
                    -meta.inner_grad_clip, meta.inner_grad_clip
                )
                for (name, value), g in zip(theta.items(), grads, strict=True)
            }
        states = (batch.robot_states[i] - mean) / std
        out = forward(theta, batch.robot_frames[i], states)
        actions = batch.robot_actions[i]
        motion = ((out.motion - actions[:, :3]) ** 2).mean()
        target = (actions[:, 3] > 0).to(actions.dtype)
        gripper = F.binary_cross_entropy_with_logits(out.gripper_logit, target)
        onsets = [t for t in range(T) if actions[t, 3] > 0 and (t == 0 or actions[t - 1, 3] <= 0)]
        aux_step = onsets[-1] if meta.aux_target == "grasp" and onsets else T - 1
        aux = ((out.aux - states[aux_step, :3]) ** 2).mean()
        task_losses.append(motion + meta.gripper_loss_weight * gripper + meta.aux_loss_weight * aux)
    return torch.stack(task_losses).mean()


@pytest.mark.parametrize("inner_steps", [1, 2])
def test_batched_vmap_equals_per_task_reference_float64(tiny_model, inner_steps):
    # Tolerance: float64 throughout, so the two paths agree to ~1e-12; we assert rtol 1e-7.
    learner = make_learner(tiny_model, dtype=torch.float64, inner_steps=inner_steps)
    batch = random_batch(1, torch.float64)
    loss, _ = meta_loss(learner.model, learner.params, batch, learner.meta_config)
    expected = reference_meta_loss(learner, batch)
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=0)
    got, want = gradients(learner, loss), gradients(learner, expected)
    for name in learner.params:
        assert got[name] is not None and want[name] is not None, name
        torch.testing.assert_close(got[name], want[name], rtol=1e-7, atol=1e-12, msg=name)


def test_batched_vmap_equals_loop_and_reference_float32(tiny_model):
    # float32: vmap runs grouped convolutions, the loop plain ones; rtol 1e-4 / atol 1e-6.
    learner = make_learner(tiny_model)
    batch = random_batch(2)
    batched, batched_metrics = meta_loss(learner.model, learner.params, batch, learner.meta_config)
    looped, looped_metrics = meta_loss_per_task(
        learner.model, learner.params, batch, learner.meta_config
    )
    expected = reference_meta_loss(learner, batch)
    torch.testing.assert_close(batched, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(looped, expected, rtol=1e-5, atol=1e-6)
    assert batched_metrics.keys() == looped_metrics.keys()
    wanted = gradients(learner, expected)
    for grads in (gradients(learner, batched), gradients(learner, looped)):
        for name, want in wanted.items():
            torch.testing.assert_close(grads[name], want, rtol=1e-4, atol=1e-6, msg=name)


def test_grasp_aux_target_vmap_equals_loop_and_reference_float64(tiny_model):
    learner = make_learner(tiny_model, dtype=torch.float64, aux_target="grasp")
    batch = random_batch(3, torch.float64)
    batch.robot_actions[0, :, 3] = -1.0  # never closes: the grasp target falls back to the end
    batched, _ = meta_loss(learner.model, learner.params, batch, learner.meta_config)
    looped, _ = meta_loss_per_task(learner.model, learner.params, batch, learner.meta_config)
    expected = reference_meta_loss(learner, batch)
    torch.testing.assert_close(batched, expected, rtol=1e-10, atol=0)
    torch.testing.assert_close(looped, expected, rtol=1e-10, atol=0)
    final = make_learner(tiny_model, dtype=torch.float64)
    final.params = learner.params
    other, _ = meta_loss(final.model, final.params, batch, final.meta_config)
    assert not torch.isclose(other, batched)  # the target really changed


def test_aux_target_position_is_the_last_closing_onset_or_the_last_step():
    states = torch.arange(28.0).reshape(7, 4)
    closes = torch.tensor([0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    assert aux_target_position(states, closes, "grasp").tolist() == [8.0, 9.0, 10.0]
    assert aux_target_position(states, closes, "final").tolist() == [24.0, 25.0, 26.0]
    never = aux_target_position(states, torch.zeros(7), "grasp")
    assert never.tolist() == [24.0, 25.0, 26.0]
    from_start = aux_target_position(states, torch.ones(7), "grasp")  # push: closed throughout
    assert from_start.tolist() == [0.0, 1.0, 2.0]
    # a missed grasp (closes at 1), re-opened, then the grasp that holds (closes at 4)
    retried = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    assert aux_target_position(states, retried, "grasp").tolist() == [16.0, 17.0, 18.0]
    batched = torch.func.vmap(aux_target_position, in_dims=(None, 0, None))(
        states, torch.stack([closes, retried]), "grasp"
    )
    assert batched.tolist() == [[8.0, 9.0, 10.0], [16.0, 17.0, 18.0]]


def test_second_order_gradient_reaches_psi_and_alpha(tiny_model):
    learner = make_learner(tiny_model)
    loss, metrics = meta_loss(learner.model, learner.params, random_batch(3), learner.meta_config)
    loss.backward()
    for name, value in learner.params.items():
        assert value.grad is not None, f"{name} got no gradient"
    psi_norm = sum(v.grad.norm() for k, v in learner.params.items() if k.startswith(PSI_PREFIX))
    alpha_grads = [v.grad for k, v in learner.params.items() if k.startswith(ALPHA_PREFIX)]
    assert psi_norm > 0
    assert any(g.abs() > 0 for g in alpha_grads)
    assert np.isfinite(list(metrics.values())).all()


def test_first_order_leaves_psi_and_alpha_without_gradient_and_warns(tiny_model):
    learner = make_learner(tiny_model, second_order=False)
    with pytest.warns(UserWarning, match="first-order"):
        loss, _ = meta_loss(learner.model, learner.params, random_batch(4), learner.meta_config)
    loss.backward()
    for name, value in learner.params.items():
        if name.startswith((PSI_PREFIX, ALPHA_PREFIX)):
            assert value.grad is None, f"{name} must get no gradient in first-order mode"
    theta_norm = sum(v.grad.norm() for v in theta_of(learner.params).values())
    assert theta_norm > 0
    assert "only theta" in FIRST_ORDER_WARNING


def test_first_order_matches_reference_without_create_graph(tiny_model):
    learner = make_learner(tiny_model, dtype=torch.float64, second_order=False)
    batch = random_batch(5, torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss, _ = meta_loss(learner.model, learner.params, batch, learner.meta_config)
    expected = reference_meta_loss(learner, batch)
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=0)
    got = torch.autograd.grad(loss, list(theta_of(learner.params).values()))
    want = torch.autograd.grad(expected, list(theta_of(learner.params).values()))
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_inner_step_lowers_the_inner_loss_on_that_video(tiny_model, seed):
    learner = make_learner(tiny_model, seed=seed, inner_lr=1e-3)
    video = random_batch(seed).human_frames[0]
    psi = {k: v for k, v in learner.params.items() if k.startswith(PSI_PREFIX)}
    before = inner_loss(learner.model, theta_of(learner.params), psi, video)
    adapted = adapt(learner.model, learner.params, video, learner.meta_config)
    after = inner_loss(learner.model, adapted, psi, video)
    assert after < before


def test_inner_step_is_clipped_and_scaled_by_alpha(tiny_model):
    learner = make_learner(tiny_model, inner_lr=0.5, inner_grad_clip=0.01)
    video = random_batch(6).human_frames[1]
    adapted = adapt(learner.model, learner.params, video, learner.meta_config)
    theta = {k: v.detach() for k, v in theta_of(learner.params).items()}
    largest = max(float((adapted[k] - theta[k]).abs().max()) for k in theta)
    assert 0 < largest <= 0.5 * 0.01 + 1e-7
    assert all(not v.requires_grad for v in adapted.values())


def test_adapt_theta_only_changes_theta_and_adapt_matches_it(tiny_model):
    learner = make_learner(tiny_model)
    video = random_batch(7).human_frames[2]
    differentiable, inner = adapt_theta(learner.model, learner.params, video, learner.meta_config)
    assert set(differentiable) == set(theta_of(learner.params))
    assert inner.requires_grad and inner > 0
    detached = adapt(learner.model, learner.params, video, learner.meta_config)
    for name, value in detached.items():
        torch.testing.assert_close(value, differentiable[name].detach())


def test_gray_human_video_adaptation_ignores_the_demonstrator_colour(tiny_model):
    """Recolouring the video while keeping its luminance changes nothing with "gray", and
    changes the adapted policy with "rgb"."""
    video = random_batch(10).human_frames[0]  # (T, 3, H, W)
    recoloured = luminance_frames(video)  # same luminance, no colour
    for colour, same in (("gray", True), ("rgb", False)):
        learner = make_learner(tiny_model, human_video_color=colour)
        a = adapt(learner.model, learner.params, video, learner.meta_config)
        b = adapt(learner.model, learner.params, recoloured, learner.meta_config)
        assert all(torch.equal(a[k], b[k]) for k in a) is same, colour


def test_gray_human_video_vmap_equals_loop(tiny_model):
    learner = make_learner(tiny_model, human_video_color="gray")
    batch = random_batch(11)
    batched, _ = meta_loss(learner.model, learner.params, batch, learner.meta_config)
    looped, _ = meta_loss_per_task(learner.model, learner.params, batch, learner.meta_config)
    torch.testing.assert_close(batched, looped, rtol=1e-5, atol=1e-6)
    grey = replace(batch, human_frames=luminance_frames(batch.human_frames))
    same, _ = meta_loss(learner.model, learner.params, grey, learner.meta_config)
    torch.testing.assert_close(same, batched, rtol=0, atol=0)


def test_fixed_inner_lr_is_not_trained(tiny_model):
    learned = make_learner(tiny_model)
    fixed = make_learner(tiny_model, learn_inner_lr=False)
    n_alpha = sum(k.startswith(ALPHA_PREFIX) for k in learned.params)
    assert n_alpha == len(theta_of(learned.params)) > 0
    trainable = trainable_params(fixed.params, fixed.meta_config)
    assert len(trainable_params(learned.params, learned.meta_config)) == len(learned.params)
    assert len(trainable) == len(fixed.params) - n_alpha


def test_validation_losses_pre_is_plain_bc_and_keeps_no_graph(tiny_model):
    learner = make_learner(tiny_model)
    batch = random_batch(8)
    result = validation_losses(learner.model, learner.params, batch, learner.meta_config)
    assert set(result) == {"pre_bc", "post_bc", "pre_total", "post_total", "inner"}
    assert all(isinstance(v, float) and np.isfinite(v) for v in result.values())
    assert result["pre_bc"] != result["post_bc"]
    assert all(v.grad is None for v in learner.params.values())


def test_init_params_is_seeded(tiny_model):
    a = Learner.create(tiny_model, MetaConfig(), 3).params
    b = Learner.create(tiny_model, MetaConfig(), 3).params
    c = Learner.create(tiny_model, MetaConfig(), 4).params
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    alphas = [float(a[k].detach()) for k in a if k.startswith(ALPHA_PREFIX)]
    assert alphas == pytest.approx([MetaConfig().inner_lr] * len(alphas))
