"""Training-time augmentation of the human video: one random hue rotation per video.

The rotation turns the chroma plane of YIQ about the luminance axis, so every colour it touches
changes hue by the same angle while its BT.601 luminance stays put (up to clipping to 0..255).
It turns either the whole video, or (given the avatar's pixel masks) only the demonstrator, whose
colour then varies far beyond the looks the sim renders for training while the objects keep
theirs. Only meta-training applies it; adaptation at test time sees the video as recorded.
Must not import sim, cv2 or data-format code.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from daml.luminance import LUMA_WEIGHTS

YIQ_FROM_RGB = (
    LUMA_WEIGHTS,
    (0.595716, -0.274453, -0.321263),
    (0.211456, -0.522591, 0.311135),
)
HUE_STREAM = 7  # random stream id: the angles never share numbers with the batch order


def hue_rotation_matrices(angles: Tensor) -> Tensor:
    """(B,) angles in radians -> (B, 3, 3) RGB -> RGB matrices rotating hue by each angle.

    M = YIQ^-1 @ R(angle) @ YIQ, where R turns (I, Q) and keeps Y.
    """
    to_yiq = torch.tensor(YIQ_FROM_RGB, dtype=torch.float64)
    from_yiq = torch.linalg.inv(to_yiq)
    cos, sin = torch.cos(angles.double()), torch.sin(angles.double())
    rotation = torch.zeros(angles.shape[0], 3, 3, dtype=torch.float64)
    rotation[:, 0, 0] = 1.0
    rotation[:, 1, 1], rotation[:, 1, 2] = cos, -sin
    rotation[:, 2, 1], rotation[:, 2, 2] = sin, cos
    return (from_yiq @ rotation @ to_yiq).float()


def rotate_hue(frames: Tensor, angles: Tensor, masks: Tensor | None = None) -> Tensor:
    """Rotate the hue of each video by its own angle.

    Args:
        frames: uint8 (B, T, 3, H, W) videos.
        angles: (B,) radians; 0 leaves a video unchanged.
        masks: optional bool (B, T, H, W): only these pixels turn, the rest stay as they are.

    Returns:
        uint8 (B, T, 3, H, W), rounded and clipped to 0..255.
    """
    if frames.dim() != 5 or frames.shape[2] != 3:
        raise ValueError(f"frames must be (B, T, 3, H, W), got {tuple(frames.shape)}")
    if angles.shape != (frames.shape[0],):
        raise ValueError(f"angles must be ({frames.shape[0]},), got {tuple(angles.shape)}")
    if masks is not None and masks.shape != frames.shape[:2] + frames.shape[3:]:
        raise ValueError(
            f"masks must be {tuple(frames.shape[:2] + frames.shape[3:])}, got {tuple(masks.shape)}"
        )
    matrices = hue_rotation_matrices(angles.cpu()).to(frames.device)
    rotated = torch.einsum("bij,btjhw->btihw", matrices, frames.to(torch.float32))
    rotated = rotated.round().clamp(0, 255).to(torch.uint8)
    if masks is None:
        return rotated
    return torch.where(masks.unsqueeze(2), rotated, frames)


def hue_angles(seed: int, step: int, count: int, jitter: float) -> Tensor:
    """(count,) angles uniform in [-jitter * pi, jitter * pi], fixed by (seed, step)."""
    rng = np.random.default_rng([seed, step, HUE_STREAM])
    return torch.from_numpy(rng.uniform(-jitter * math.pi, jitter * math.pi, count))
