"""Function-preserving widening of the encoder (daml/widen_encoder.py); `daml train`: test_train."""

from __future__ import annotations

import pytest
import torch

from daml.config import MetaConfig, TrainConfig
from daml.errors import ConfigError
from daml.meta import ALPHA_PREFIX, Learner
from daml.widen_encoder import check_widenable, widen_encoder


def _trained_like(tiny_model_factory, aux_head: bool) -> Learner:
    """A tiny learner with random (not zero-initialised) biases and norm parameters."""
    model = tiny_model_factory(aux_head=aux_head)
    learner = Learner.create(model, MetaConfig(inner_grad_clip=1000.0), seed=3)
    generator = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for name, value in learner.params.items():
            if not name.startswith(ALPHA_PREFIX) and value.ndim == 1:
                value.add_(0.2 * torch.randn(value.shape, generator=generator))
    return learner


ACTIONS_AND_AUX = ("motion", "gripper_logit", "aux")


@pytest.mark.parametrize("aux_head", [True, False])
@pytest.mark.parametrize("widths", [(16, 16), (8, 24), (32, 16)])
def test_widened_encoder_acts_like_the_original_and_adapts_almost_alike(
    tiny_model_factory, outputs_around_adaptation, widths, aux_head
):
    learner = _trained_like(tiny_model_factory, aux_head)
    params, config = widen_encoder(
        learner.params, learner.model_config, widths, seed=0, copy_noise=0.0
    )
    assert config.conv_channels == widths
    widened = Learner(config, learner.meta_config, params)
    assert params.keys() == learner.params.keys()
    assert params["encoder.convs.3.weight"].shape == (widths[1], widths[0], 5, 5)
    (pre, post), (wide_pre, wide_post) = (
        outputs_around_adaptation(learner, ACTIONS_AND_AUX),
        outputs_around_adaptation(widened, ACTIONS_AND_AUX),
    )
    assert torch.allclose(wide_pre, pre, atol=1e-5)  # exact up to float rounding
    step = (post - pre).norm()
    assert step > 0.05  # the inner step does change the policy
    assert (wide_post - post).norm() < 0.1 * step  # close: only the first layer's copies differ


def test_copies_split_their_outgoing_weight_unequally(tiny_model_factory):
    learner = _trained_like(tiny_model_factory, aux_head=True)
    params, _ = widen_encoder(learner.params, learner.model_config, (16, 16), 0, copy_noise=0.0)
    old = learner.params["encoder.convs.3.weight"].detach()
    new = params["encoder.convs.3.weight"]
    assert torch.equal(new[:8, :8] + new[:8, 8:], new[8:, :8] + new[8:, 8:])  # rows are copies
    assert torch.allclose(new[:8, :8] + new[:8, 8:], old, atol=1e-6)
    assert not torch.allclose(new[:8, :8], new[:8, 8:])  # unequal shares break the symmetry
    assert params[ALPHA_PREFIX + "encoder.convs.1.bias"] == pytest.approx(
        2 * learner.params[ALPHA_PREFIX + "encoder.convs.1.bias"].item()
    )


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
