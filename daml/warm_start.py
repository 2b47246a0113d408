"""Start a new meta-training run from a checkpoint's weights (`daml train --init`).

The model section comes from the checkpoint, optionally changed in ways that keep its
parameters usable: a grown policy MLP (daml/grow.py), a widened encoder
(daml/widen_encoder.py), another camera image side, other encoder
strides and dilations. Must not import sim or cv2.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from daml.checkpoint import load_checkpoint
from daml.config import RunConfig, TrainConfig
from daml.errors import ConfigError
from daml.grow import grow_policy
from daml.meta import Learner
from daml.widen_encoder import widen_encoder

MODEL_CHANGING_OPTIONS = (
    "init_hidden_sizes",
    "init_conv_channels",
    "init_image_px",
    "init_conv_strides",
    "init_conv_dilations",
)


def check_init_options(train_config: TrainConfig) -> None:
    """Refuse train.init_* model changes without train.init_checkpoint (nothing to change)."""
    for name in MODEL_CHANGING_OPTIONS:
        if getattr(train_config, name) and not train_config.init_checkpoint:
            raise ConfigError(
                f"train.{name} changes the model of train.init_checkpoint; pass --init"
            )


def warm_start(config: RunConfig, device: torch.device) -> tuple[Learner, RunConfig]:
    """A fresh run (step 0, new Adam) from train.init_checkpoint's theta, psi and alpha.

    The model section (architecture, image size, T, state normaliser) is the checkpoint's: its
    weights only make sense with it. The meta and train sections are the given config's, so a
    DAML checkpoint can seed e.g. a lower-learning-rate run or a robot-demo (MIL) run.
    With train.init_hidden_sizes, the policy MLP is first grown to those widths (daml/grow.py);
    with train.init_conv_channels, the encoder's conv layers are widened (daml/widen_encoder.py);
    with train.init_image_px / train.init_conv_strides / train.init_conv_dilations, the same
    weights take images of that side / run with those strides and dilations (no parameter's shape
    depends on any of them).
    """
    source = load_checkpoint(config.train.init_checkpoint, kind="meta")
    params, model = source.params, source.config.model
    sizes = config.train.init_hidden_sizes
    if sizes and sizes != model.hidden_sizes:
        params, model = grow_policy(params, model, sizes, config.train.seed)
    channels = config.train.init_conv_channels
    if channels and channels != model.conv_channels:
        params, model = widen_encoder(params, model, channels, config.train.seed)
    if config.train.init_image_px:
        model = replace(model, image_px=config.train.init_image_px)
    for option, field, unit in (
        ("init_conv_strides", "conv_strides", "stride"),
        ("init_conv_dilations", "conv_dilations", "dilation"),
    ):
        values = getattr(config.train, option)
        if not values:
            continue
        if len(values) != len(model.conv_channels):
            raise ConfigError(
                f"train.{option} {list(values)} must give one {unit} per conv layer of "
                f"{config.train.init_checkpoint} ({len(model.conv_channels)} layers, strides "
                f"{list(model.conv_strides)})"
            )
        model = replace(model, **{field: values})
    config = replace(config, model=model)
    return Learner(config.model, config.meta, params).to(device), config
