"""Function-preserving widening of the encoder (daml/widen_encoder.py, daml/copy_step.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from daml.config import MetaConfig, ModelConfig, TrainConfig
from daml.errors import ConfigError
from daml.meta import ALPHA_PREFIX, Learner, meta_loss, meta_loss_per_task
from daml.widen_encoder import check_widenable, widen_encoder
from tests.daml.meta_batches import gradients, make_learner, random_batch


def _trained_like(tiny_model_factory, aux_head: bool, clip: float = 1000.0) -> Learner:
    """A tiny learner with random (not zero-initialised) biases and norm parameters."""
    model = tiny_model_factory(aux_head=aux_head)
    learner = Learner.create(model, MetaConfig(inner_grad_clip=clip), seed=3)
    generator = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for name, value in learner.params.items():
            if not name.startswith(ALPHA_PREFIX) and value.ndim == 1:
                value.add_(0.2 * torch.randn(value.shape, generator=generator))
    return learner


ACTIONS_AND_AUX = ("motion", "gripper_logit", "aux")
CLIP_THAT_BITES = 0.5  # clips most of the tiny model's inner gradient elements (step 0.18 vs 3.5)


@pytest.mark.parametrize("clip", [1000.0, CLIP_THAT_BITES])
@pytest.mark.parametrize("aux_head", [True, False])
@pytest.mark.parametrize("widths", [(16, 16), (8, 24), (32, 16)])
def test_widened_encoder_acts_and_adapts_exactly_like_the_original(
    tiny_model_factory, outputs_around_adaptation, widths, aux_head, clip
):
    learner = _trained_like(tiny_model_factory, aux_head, clip)
    params, config = widen_encoder(
        learner.params, learner.model_config, widths, seed=0, copy_noise=0.0
    )
    assert config.conv_channels == widths
    assert config.conv_copies == (widths[0] // 8, widths[1] // 8)
    widened = Learner(config, learner.meta_config, params)
    assert params.keys() == learner.params.keys()
    assert params["encoder.convs.3.weight"].shape == (widths[1], widths[0], 5, 5)
    (pre, post), (wide_pre, wide_post) = (
        outputs_around_adaptation(learner, ACTIONS_AND_AUX),
        outputs_around_adaptation(widened, ACTIONS_AND_AUX),
    )
    step = (post - pre).norm()
    assert step > 0.01  # the inner step does change the policy (100 x the tolerance below)
    assert torch.allclose(wide_pre, pre, atol=1e-5)  # exact up to float rounding
    assert torch.allclose(wide_post, post, atol=1e-4)  # and so is the adapted policy


def test_the_clip_in_the_exactness_test_bites(tiny_model_factory, outputs_around_adaptation):
    (_, unclipped), (_, clipped) = (
        outputs_around_adaptation(_trained_like(tiny_model_factory, True, c), ACTIONS_AND_AUX)
        for c in (1000.0, CLIP_THAT_BITES)
    )
    assert (unclipped - clipped).norm() > 0.1 * unclipped.norm()


def test_without_the_copy_scaling_a_clipped_step_goes_astray(
    tiny_model_factory, outputs_around_adaptation
):
    """What sessions 35-47 had: the copies' conv_copies forgotten (learning rates kept)."""
    learner = _trained_like(tiny_model_factory, True, CLIP_THAT_BITES)
    params, config = widen_encoder(learner.params, learner.model_config, (16, 16), 0, 0.0)
    unscaled = Learner(replace(config, conv_copies=()), learner.meta_config, params)
    (pre, post), (_, wide_post) = (
        outputs_around_adaptation(learner, ACTIONS_AND_AUX),
        outputs_around_adaptation(unscaled, ACTIONS_AND_AUX),
    )
    assert (wide_post - post).norm() > 0.1 * (post - pre).norm()


def test_copies_share_their_outgoing_weight_equally_and_keep_the_learning_rates(
    tiny_model_factory,
):
    learner = _trained_like(tiny_model_factory, aux_head=True)
    params, _ = widen_encoder(learner.params, learner.model_config, (16, 16), 0, copy_noise=0.0)
    old = learner.params["encoder.convs.3.weight"].detach()
    new = params["encoder.convs.3.weight"]
    assert torch.equal(new[:8], new[8:])  # rows are copies
    assert torch.equal(new[:, :8], new[:, 8:])  # each takes half of each input's weight
    assert torch.allclose(new[:8, :8] + new[:8, 8:], old, atol=1e-6)
    reader = params["policy.hidden_layers.0.weight"]
    assert torch.equal(reader[:, :8], reader[:, 8:16])  # x points of the two copies
    for name, alpha in learner.params.items():
        if name.startswith(ALPHA_PREFIX):
            assert torch.equal(params[name], alpha.detach())


def test_widening_twice_adapts_like_widening_once(tiny_model_factory, outputs_around_adaptation):
    learner = _trained_like(tiny_model_factory, True, CLIP_THAT_BITES)
    once_params, once = widen_encoder(learner.params, learner.model_config, (32, 16), 0, 0.0)
    half_params, half = widen_encoder(learner.params, learner.model_config, (16, 16), 0, 0.0)
    twice_params, twice = widen_encoder(half_params, half, (32, 16), 0, 0.0)
    assert twice.conv_copies == once.conv_copies == (4, 2)
    assert all(torch.allclose(twice_params[k], v, atol=1e-7) for k, v in once_params.items())
    (_, post), (_, twice_post) = (
        outputs_around_adaptation(learner, ACTIONS_AND_AUX),
        outputs_around_adaptation(
            Learner(twice, learner.meta_config, twice_params), ACTIONS_AND_AUX
        ),
    )
    assert torch.allclose(twice_post, post, atol=1e-4)


def test_noise_separates_the_copies_and_keeps_the_function_close(
    tiny_model_factory, outputs_around_adaptation
):
    learner = _trained_like(tiny_model_factory, aux_head=True)
    params, config = widen_encoder(learner.params, learner.model_config, (16, 16), seed=0)
    first = params["encoder.convs.0.weight"]
    old = learner.params["encoder.convs.0.weight"].detach()
    assert torch.equal(first[:8], old)  # the first copy of each channel is exact
    difference = (first[8:] - old).std() / old.std()
    assert 0.05 < difference < 0.2  # the others carry noise of COPY_NOISE x the weights' std
    (pre, post), (wide_pre, _) = (
        outputs_around_adaptation(learner, ACTIONS_AND_AUX),
        outputs_around_adaptation(Learner(config, learner.meta_config, params), ACTIONS_AND_AUX),
    )
    assert 0 < (wide_pre - pre).norm() < 0.1 * (post - pre).norm()
    again, _ = widen_encoder(learner.params, learner.model_config, (16, 16), seed=0)
    assert all(torch.equal(again[k], v) for k, v in params.items())  # seeded


def test_equal_widths_keep_the_params(tiny_model_factory):
    learner = _trained_like(tiny_model_factory, aux_head=True)
    params, config = widen_encoder(learner.params, learner.model_config, (8, 8), seed=0)
    assert config == learner.model_config  # no copies, so no noise either
    assert all(torch.equal(params[k], v.detach()) for k, v in learner.params.items())


@pytest.mark.parametrize(
    ("new", "reason"),
    [((16,), "one width per conv layer"), ((12, 16), "whole multiple"), ((4, 8), "whole multiple")],
)
def test_impossible_widening_is_refused(new, reason):
    with pytest.raises(ConfigError, match=reason):
        check_widenable((8, 8), new)


def test_non_positive_widths_are_a_config_error():
    with pytest.raises(ConfigError, match="must be positive"):
        TrainConfig(init_conv_channels=(0, 16))


@pytest.mark.parametrize("copies", [(2,), (3, 1), (0, 1)])
def test_copies_that_do_not_fit_the_widths_are_a_config_error(copies):
    with pytest.raises(ConfigError, match="conv_copies"):
        ModelConfig(conv_channels=(16, 16), conv_strides=(2, 1), conv_copies=copies)


def test_a_widened_models_meta_step_is_the_same_vmapped_and_looped(tiny_model):
    """The scaled inner step (point columns sliced and re-joined) under torch.func.vmap, second
    order: loss and every outer gradient agree with the per-task loop."""
    learner = make_learner(tiny_model, inner_grad_clip=CLIP_THAT_BITES)
    params, config = widen_encoder(learner.params, learner.model_config, (16, 16), 0)
    wide = Learner(
        config, learner.meta_config, {k: v.requires_grad_(True) for k, v in params.items()}
    )
    batch = random_batch(2)
    batched, _ = meta_loss(wide.model, wide.params, batch, wide.meta_config)
    looped, _ = meta_loss_per_task(wide.model, wide.params, batch, wide.meta_config)
    torch.testing.assert_close(batched, looped, rtol=1e-5, atol=1e-6)
    got, want = gradients(wide, batched), gradients(wide, looped)
    for name in wide.params:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-6, msg=name)
