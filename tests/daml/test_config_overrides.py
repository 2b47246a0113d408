"""`RunConfig.with_overrides` (`daml train --set SECTION.KEY=VALUE`): typed values, clear errors."""

from __future__ import annotations

import pytest

from daml.config import RunConfig
from daml.errors import ConfigError


def test_values_are_read_as_the_fields_types():
    config = RunConfig().with_overrides(
        [
            "train.val_every=500",
            "train.outer_lr=3e-4",
            "model.temporal_loss_scale=5",
            "model.aux_head=false",
            "model.conv_channels=32,32,32",
            "model.hidden_sizes=[512, 100]",
            "train.init_conv_dilations=",
            "meta.aux_target=final",
            "train.init_checkpoint=runs/a=b/last.pt",  # only the first "=" splits
        ]
    )
    assert config.train.val_every == 500 and isinstance(config.train.val_every, int)
    assert config.train.outer_lr == 3e-4
    assert config.model.temporal_loss_scale == 5.0
    assert isinstance(config.model.temporal_loss_scale, float)
    assert config.model.aux_head is False
    assert config.model.conv_channels == (32, 32, 32)
    assert config.model.hidden_sizes == (512, 100)
    assert config.train.init_conv_dilations == ()
    assert config.meta.aux_target == "final"
    assert config.train.init_checkpoint == "runs/a=b/last.pt"
    # everything not named keeps its value, and the result round-trips through JSON
    assert config.train.steps == RunConfig().train.steps
    assert RunConfig.from_json(config.to_json()) == config


def test_later_assignments_win_and_none_is_a_copy():
    config = RunConfig().with_overrides(["train.seed=3", "train.seed=4"])
    assert config.train.seed == 4
    assert RunConfig().with_overrides([]) == RunConfig()


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("train.steps", "expects SECTION.KEY=VALUE"),
        ("steps=5", "expects SECTION.KEY=VALUE"),
        ("train.=5", "expects SECTION.KEY=VALUE"),
        ("optim.lr=1", "unknown section"),
        ("train.stpes=5", "unknown key"),
        ("train.steps=2.5", "expected an integer, got '2.5'"),
        ("train.outer_lr=fast", "expected a number, got 'fast'"),
        ("model.aux_head=yes", "expected true or false"),
        ("model.conv_channels=[32, 32", "is not a JSON list"),
        ("model.conv_channels=32,x", "expected a number, got 'x'"),
        ("train.steps=0", "train.steps must be >= 1"),  # the config's own checks still run
        ("train.batching=fast", "train.batching must be 'vmap' or 'loop'"),
    ],
)
def test_bad_assignments_raise_a_config_error(assignment, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        RunConfig().with_overrides([assignment])
