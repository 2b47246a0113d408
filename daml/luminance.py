"""BT.601 luminance of video frames: the "gray" human video the inner step can adapt on.

The same weights define the Y axis of YIQ, about which daml/augment.py turns hue, so a hue
rotation leaves this luminance unchanged. Must not import sim, cv2 or data-format code.
"""

from __future__ import annotations

import torch
from torch import Tensor

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 R, G, B


def luminance_frames(frames: Tensor) -> Tensor:
    """RGB -> luminance (ITU-R BT.601 weights) repeated over the 3 channels.

    frames: (..., 3, H, W) uint8 -> (..., 3, H, W) uint8, every channel the same grey image.
    """
    weights = torch.tensor(LUMA_WEIGHTS, dtype=torch.float32, device=frames.device)
    luma = torch.einsum("...chw,c->...hw", frames.to(torch.float32), weights)
    grey = luma.round().clamp(0, 255).to(torch.uint8).unsqueeze(-3)
    return grey.expand(*frames.shape).contiguous()
