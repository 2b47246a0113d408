"""Function-preserving growth of the policy MLP (daml/grow.py); `daml train` with it: test_train."""

from __future__ import annotations

import pytest
import torch

from daml.config import MetaConfig, TrainConfig
from daml.errors import ConfigError
from daml.grow import check_growable, grow_policy
from daml.meta import ALPHA_PREFIX, Learner


def _trained_like(tiny_model_factory) -> Learner:
    """A tiny learner whose params are random (not zero-initialised) and alphas distinct."""
    learner = Learner.create(tiny_model_factory(), MetaConfig(), seed=3)
    generator = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for name, value in learner.params.items():
            if name.startswith(ALPHA_PREFIX):
                value.fill_(0.005 + 0.01 * torch.rand((), generator=generator).item())
            elif value.ndim == 1 and "bias" in name:
                value.add_(0.1 * torch.randn(value.shape, generator=generator))
    return learner


ACTIONS_AND_HIDDEN = ("motion", "gripper_logit", "hidden")


@pytest.mark.parametrize("sizes", [(32, 32, 32), (32, 48, 32), (64, 64, 32), (64, 96, 64, 32)])
def test_grown_policy_acts_like_the_original_before_and_after_adaptation(
    tiny_model_factory, outputs_around_adaptation, sizes
):
    learner = _trained_like(tiny_model_factory)
    params, config = grow_policy(learner.params, learner.model_config, sizes, seed=0)
    assert config.hidden_sizes == sizes
    grown = Learner(config, learner.meta_config, params)
    assert sum(v.numel() for v in params.values()) > sum(v.numel() for v in learner.params.values())
    (pre, post), (grown_pre, grown_post) = (
        outputs_around_adaptation(learner, ACTIONS_AND_HIDDEN),
        outputs_around_adaptation(grown, ACTIONS_AND_HIDDEN),
    )
    assert torch.allclose(grown_pre, pre, atol=1e-6)
    step = (post - pre).norm()
    assert step > 0.1  # the inner step does change the policy
    if all(width == 32 for width in sizes):  # no new units: the inner step is the same too
        assert torch.allclose(grown_post, post, atol=1e-6)
    else:  # new units' small activations add a little to the inner step, not more
        assert (grown_post - post).norm() < 0.05 * step
    inserted = len(sizes) - len(learner.model_config.hidden_sizes)
    for index in range(1, 1 + inserted):  # inserted layers: no inner step until alpha is learned
        assert params[f"{ALPHA_PREFIX}policy.hidden_layers.{index}.weight"].item() == 0.0


def test_equal_sizes_keep_the_params(tiny_model_factory):
    learner = _trained_like(tiny_model_factory)
    params, config = grow_policy(learner.params, learner.model_config, (32, 32), seed=0)
    assert config == learner.model_config and params.keys() == learner.params.keys()
    assert all(torch.equal(params[k], v.detach()) for k, v in learner.params.items())


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ((32, 32), (32,), "fewer layers"),
        ((32, 32), (64, 48), "last width must stay 32"),
        ((64, 32), (48, 32, 32), "would shrink"),
        ((64, 32), (64, 48, 32), "at least 64 wide"),
        ((32,), (32, 32), "only one"),
    ],
)
def test_impossible_growth_is_refused(old, new, reason):
    with pytest.raises(ConfigError, match=reason):
        check_growable(old, new)


def test_non_positive_sizes_are_a_config_error():
    with pytest.raises(ConfigError, match="must be positive"):
        TrainConfig(init_hidden_sizes=(0, 100))
