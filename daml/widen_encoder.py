"""Function-preserving widening of a meta-trained encoder's conv layers (Net2WiderNet).

daml/grow.py grows the policy MLP; this widens the convolutional encoder, which grow.py cannot
do by adding fresh channels: each conv layer's ChannelLayerNorm normalises over all of its
channels, so any new channel changes every old channel's mean and variance. Copies do not: a
layer widened to m times its channels holds each old channel m times, which leaves the norm's
mean and variance over (C, H, W) exactly as they were. So layer l's new channel j is old
channel j mod C_l (the copies are tiled), and:
  * its conv weight row is the old row with each input channel's weight divided by that input's
    number of copies, so a copy sums its input copies back to the old input;
  * its conv bias and its norm gain and bias are the old channel's;
  * the feature points of the last layer's copies are the old ones, and the policy's first layer
    and the aux head read them through weight columns divided by the number of copies.
With exact copies (copy_noise=0) the widened model computes exactly what the old one did, and
its inner step (scaled per tensor by the copies, recorded as ModelConfig.conv_copies:
daml/copy_step.py) adapts it to exactly the old model's adapted policy, clipped elements
included. The shares are equal: with unequal ones the norm's backward pass mixes them and the
inner step is no longer exact. But exact copies stay copies under Adam (their gradients are
equal), so every copy but the first of each channel gets Gaussian noise on its incoming conv
weights, COPY_NOISE times the layer's weight std, which lets meta-training use them.

History: until session 48 the shares were unequal and the inner step was matched only by the
per-tensor learning rates, which cannot match a clipped step (meta.inner_grad_clip) or the
policy's point columns; widened to [32, 32, 32] the push model (clip 10) then succeeded in 143
(exact copies) or 139 (noise) of the first 198 validation episodes against 176
(docs/BENCHMARKS.md, *Session 47*).

Must not import sim, cv2 or data code.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from daml.config import ModelConfig
from daml.copy_step import POLICY_READERS, conv_layer_names
from daml.errors import ConfigError
from daml.meta import Params

COPY_NOISE = 0.1  # std of the noise on copies' incoming conv weights, x the layer's weight std


def check_widenable(old: tuple[int, ...], new: tuple[int, ...]) -> None:
    """Raise ConfigError unless conv widths `old` can widen into `new` (whole multiples)."""
    if len(new) != len(old):
        problem = f"give one width per conv layer ({len(old)})"
    elif any(n < o or n % o for n, o in zip(new, old, strict=True)):
        problem = "each width must be a whole multiple (1, 2, 3, ...) of the checkpoint's"
    else:
        return
    raise ConfigError(
        f"cannot widen the encoder's conv channels {list(old)} into {list(new)}: {problem}, "
        "since copies of every channel keep the layer norm's statistics"
    )


def widen_encoder(
    params: Params,
    config: ModelConfig,
    conv_channels: tuple[int, ...],
    seed: int,
    copy_noise: float = COPY_NOISE,
) -> tuple[Params, ModelConfig]:
    """The params of `config`'s model with its conv layers widened to `conv_channels`.

    Args:
        params: a meta checkpoint's params (theta, psi, inner_lr.*) for `config`.
        conv_channels: the new widths, each a whole multiple of the old; see check_widenable.
        seed: seeds the noise on the copies.
        copy_noise: the noise's std on copies' incoming weights, x the layer's weight std
            (0: exact copies, the same function before and after the inner step).

    Returns:
        (new params as CPU tensors, the model config with conv_channels replaced and
        conv_copies multiplied by each layer's new copies). Inner learning rates are kept: the
        config's conv_copies scales the inner step (daml/copy_step.py).
    """
    old_widths, new_widths = tuple(config.conv_channels), tuple(int(c) for c in conv_channels)
    check_widenable(old_widths, new_widths)
    generator = torch.Generator().manual_seed(seed)
    widened = {k: v.detach().cpu().clone() for k, v in params.items()}
    in_source, in_copies = torch.arange(3), 1  # RGB: not widened
    for layer, (old, new) in enumerate(zip(old_widths, new_widths, strict=True)):
        source, copies = torch.arange(new) % old, new // old  # channel j copies j mod C
        conv_w, *per_channel = conv_layer_names(layer)
        weight = widened[conv_w][source][:, in_source] / in_copies
        noise = copy_noise * weight[:old].std() * torch.randn(weight.shape, generator=generator)
        noise[:old] = 0.0  # the first copy of each channel stays exact
        widened[conv_w] = weight + noise
        for name in per_channel:
            widened[name] = widened[name][source]
        in_source, in_copies = source, copies
    _widen_point_readers(widened, old_widths[-1], in_source, in_copies)
    before = config.conv_copies or (1,) * len(old_widths)
    total = tuple(m * n // o for m, n, o in zip(before, new_widths, old_widths, strict=True))
    copied = total if any(m > 1 for m in total) else config.conv_copies  # equal widths: as was
    return widened, replace(config, conv_channels=new_widths, conv_copies=copied)


def _widen_point_readers(params: Params, old: int, source: Tensor, copies: int) -> None:
    """Policy layer 0 and the aux head read [x (C), y (C), ...]: copy and share those columns."""
    columns = torch.cat([source, old + source])
    for name in POLICY_READERS:
        if name not in params:
            continue
        weight = params[name]
        points = weight[:, columns] / copies
        params[name] = torch.cat([points, weight[:, 2 * old :]], dim=1)
