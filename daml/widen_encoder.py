"""Nearly function-preserving widening of a meta-trained encoder's conv layers (Net2WiderNet).

daml/grow.py grows the policy MLP; this widens the convolutional encoder, which grow.py cannot
do by adding fresh channels: each conv layer's ChannelLayerNorm normalises over all of its
channels, so any new channel changes every old channel's mean and variance. Copies do not: a
layer widened to m times its channels holds each old channel m times, which leaves the norm's
mean and variance over (C, H, W) exactly as they were. So layer l's new channel j is old
channel j mod C_l (the copies are tiled), and:
  * its conv weight row is the old row, with each input channel's weight multiplied by that
    input's split (below), so a copy sums its input copies back to the old input;
  * its conv bias and its norm gain and bias are the old channel's;
  * the feature points of the last layer's copies are the old ones, and the policy's first layer
    and the aux head read them through weight columns multiplied by the same splits.
A split is the share of its old channel's outgoing weight that a copy carries: per old channel,
m positive shares summing to 1, drawn unequal (1/m times 1 +- SPLIT_SPREAD, normalised). With
exact copies that is the whole story, and the widened model computes exactly what the old one
did before the inner step (copy_noise=0). But exact copies stay copies under Adam: their
gradients are proportional (by the shares), and Adam's per-element scaling turns proportional
gradients into equal updates (measured: after 2,000 pick_place meta-steps the copies' weights
were 0.4-0.6% apart, so the added channels were never used). So every copy but the first of
each channel gets Gaussian noise on its incoming conv weights, COPY_NOISE times the layer's
weight std: on the shipped pick_place model, the 48 val tasks' BC before adaptation 0.1315 ->
0.1329 and after it 0.0383 -> 0.0379.

The inner step: a copy's gradient is about its split's share of the old channel's, so a layer
widened m times would step 1/m as far, and its input copies m times as far. Inner learning rates
(one number per tensor) are rescaled to match: x m_out for conv biases and norm gains and biases,
x m_out / m_in for conv weights (m_in = 1 for the RGB input). What they cannot match is the
policy's first layer, whose point columns are copied while its state and task-vector columns are
not: the copies' columns step m times as far. Nor can they match a clipped inner step
(meta.inner_grad_clip): an element clipped before and after widening steps m times as far. So
after the inner step the widened model (without noise) is close to the old one, not equal to
it: on the 48 val tasks, post-adaptation BC 0.0383 vs 0.0383 for the shipped pick_place model
(its inner step is not clipped; 0.0422 without the rescaling) and 0.0062 vs 0.0051 for the push
model (clip 10; 0.0056 without), which 250 meta-steps brought back to 0.0052. Meta-training
re-learns the rates. In closed loop the push model pays more: widened to [32, 32, 32] it
succeeds in 143 (exact copies) or 139 (with the noise) of the first 198 validation episodes,
against 176, and 6,000 meta-steps at lr 3e-4 did not win them back (141; docs/BENCHMARKS.md,
*Session 47*).

Must not import sim, cv2 or data code.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from daml.config import ModelConfig
from daml.errors import ConfigError
from daml.meta import ALPHA_PREFIX, Params

CONV = "encoder.convs.{}.{}"  # Sequential index: 3 * layer (conv), 3 * layer + 1 (norm)
SPLIT_SPREAD = 0.2
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
        seed: seeds the unequal splits between copies and the noise on them.
        copy_noise: the noise's std on copies' incoming weights, x the layer's weight std
            (0: exact copies, the same function before the inner step; see the module doc).

    Returns:
        (new params as CPU tensors, the model config with conv_channels replaced). Inner
        learning rates (scalars per tensor) are rescaled as the module doc says.
    """
    old_widths, new_widths = tuple(config.conv_channels), tuple(int(c) for c in conv_channels)
    check_widenable(old_widths, new_widths)
    generator = torch.Generator().manual_seed(seed)
    widened = {k: v.detach().cpu().clone() for k, v in params.items()}
    in_source, in_split, in_copies = torch.arange(3), torch.ones(3), 1  # RGB: not widened
    for layer, (old, new) in enumerate(zip(old_widths, new_widths, strict=True)):
        source, copies = torch.arange(new) % old, new // old  # channel j copies j mod C
        conv_w = CONV.format(3 * layer, "weight")
        weight = widened[conv_w][source][:, in_source] * in_split[None, :, None, None]
        noise = copy_noise * weight[:old].std() * torch.randn(weight.shape, generator=generator)
        noise[:old] = 0.0  # the first copy of each channel stays exact
        widened[conv_w] = weight + noise
        widened[ALPHA_PREFIX + conv_w] = widened[ALPHA_PREFIX + conv_w] * copies / in_copies
        for name in (CONV.format(3 * layer, "bias"), *_norm_names(layer)):
            widened[name] = widened[name][source]
            widened[ALPHA_PREFIX + name] = widened[ALPHA_PREFIX + name] * copies
        in_source, in_split, in_copies = source, _splits(old, copies, generator), copies
    _widen_point_readers(widened, old_widths[-1], in_source, in_split)
    return widened, replace(config, conv_channels=new_widths)


def _norm_names(layer: int) -> tuple[str, str]:
    return CONV.format(3 * layer + 1, "weight"), CONV.format(3 * layer + 1, "bias")


def _splits(old: int, copies: int, generator: torch.Generator) -> Tensor:
    """(old * copies,) shares: copy j of old channel j mod old; each channel's shares sum to 1."""
    if copies == 1:
        return torch.ones(old)
    spread = 1 + SPLIT_SPREAD * (2 * torch.rand(copies, old, generator=generator) - 1)
    return (spread / spread.sum(dim=0, keepdim=True)).reshape(-1)


def _widen_point_readers(params: Params, old: int, source: Tensor, split: Tensor) -> None:
    """Policy layer 0 and the aux head read [x (C), y (C), ...]: copy and split those columns."""
    columns = torch.cat([source, old + source])
    shares = torch.cat([split, split])
    for name in ("policy.hidden_layers.0.weight", "policy.aux_head.weight"):
        if name not in params:
            continue
        weight = params[name]
        points = weight[:, columns] * shares[None, :]
        params[name] = torch.cat([points, weight[:, 2 * old :]], dim=1)
