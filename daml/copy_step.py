"""The inner step of a model whose encoder holds copies of its channels (daml/widen_encoder.py).

A widened layer l holds each old channel m_l times (ModelConfig.conv_copies), each copy's
outgoing weight a 1/m_l share of the old one's. On such a model the inner gradient of a copy is
exactly 1/m_l of the old element's (the layer norm's statistics over (C, H, W) are unchanged),
while the step that keeps copies copies of the adapted old model is:
  * conv weight of layer l, copy of old (j, i): the old step / m_(l-1) (its input is split in
    m_(l-1) shares too; m_(-1) = 1 for the RGB input);
  * conv bias, norm gain and norm bias of layer l: the old step;
  * policy layer 0 and the aux head, columns reading copied feature points: the old step / m_L
    (their gradient is the old one, since a copy's point equals the old point);
    every other column (robot state, bias transformation): the old step.
The old step is alpha * clip(g, +-c). So a scale (step, clip) per tensor, phi = theta - alpha *
step * clip(g, +-c * clip) (and the point columns' extra / m_L), gives after widening exactly
the adapted policy the old model gave, clipped elements included; a per-tensor learning rate
alone cannot (an element clipped before and after widening would step m_l times as far).
Meta-training then learns alpha on top of these fixed scales.

Must not import sim, cv2 or data code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from daml.config import ModelConfig

POLICY_READERS = ("policy.hidden_layers.0.weight", "policy.aux_head.weight")  # read the points


def conv_layer_names(layer: int) -> tuple[str, str, str, str]:
    """Conv layer `layer`'s theta names: conv weight, conv bias, norm gain, norm bias.

    (Encoder.convs is a Sequential of [conv, norm, ReLU] per layer: indices 3l and 3l + 1.)
    """
    conv, norm = f"encoder.convs.{3 * layer}", f"encoder.convs.{3 * layer + 1}"
    return f"{conv}.weight", f"{conv}.bias", f"{norm}.weight", f"{norm}.bias"


@dataclass(frozen=True)
class CopyStep:
    """One tensor's fixed inner-step scales: step x alpha, clip x meta.inner_grad_clip, and the
    first `point_columns` columns (feature points) stepping x point_step besides."""

    step: float = 1.0
    clip: float = 1.0
    point_columns: int = 0
    point_step: float = 1.0


def copy_steps(config: ModelConfig) -> dict[str, CopyStep]:
    """theta name -> its CopyStep, for the tensors a widening scales ({} when not widened)."""
    if not config.conv_copies:
        return {}
    scales: dict[str, CopyStep] = {}
    previous = 1
    for layer, copies in enumerate(config.conv_copies):
        weight, *others = conv_layer_names(layer)
        scales[weight] = CopyStep(step=copies / previous, clip=1 / copies)
        for name in others:
            scales[name] = CopyStep(step=float(copies), clip=1 / copies)
        previous = copies
    points = 2 * config.conv_channels[-1]
    for name in POLICY_READERS:
        scales[name] = CopyStep(point_columns=points, point_step=1 / previous)
    return scales


def inner_step(grad: Tensor, alpha: Tensor, clip: float, scale: CopyStep | None) -> Tensor:
    """alpha * clip(grad, +-clip): what the inner step subtracts from one theta tensor.

    grad: the tensor's inner gradient (any shape; point columns are its last dim); alpha: its
    learning rate (scalar); scale: copy_steps' entry for it, or None (no scaling).
    """
    if scale is None:
        return alpha * grad.clamp(-clip, clip)
    bound = clip_bound(clip, scale)
    step = (alpha * scale.step) * grad.clamp(-bound, bound)
    if scale.point_columns and scale.point_step != 1.0:
        points, rest = step[..., : scale.point_columns], step[..., scale.point_columns :]
        step = torch.cat([points * scale.point_step, rest], dim=-1)
    return step


def clip_bound(clip: float, scale: CopyStep | None) -> float:
    """The bound that one tensor's inner gradient is clipped to: meta.inner_grad_clip, scaled."""
    return clip if scale is None else clip * scale.clip
