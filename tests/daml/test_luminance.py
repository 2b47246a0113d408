"""The "gray" human video: BT.601 luminance, as OpenCV computes it, in all three channels."""

from __future__ import annotations

import cv2
import torch

from daml.luminance import luminance_frames


def test_luminance_frames_match_opencv_gray():
    """OpenCV rounds in fixed point, so about one pixel in 800 lands one grey level away."""
    generator = torch.Generator().manual_seed(9)
    frames = torch.randint(0, 256, (4, 8, 3, 32, 32), dtype=torch.uint8, generator=generator)
    grey = luminance_frames(frames)
    assert grey.shape == frames.shape and grey.dtype == torch.uint8
    assert torch.equal(grey[:, :, 0], grey[:, :, 1]) and torch.equal(grey[:, :, 0], grey[:, :, 2])
    rgb = frames.permute(0, 1, 3, 4, 2).reshape(-1, 32, 3).numpy().copy()  # (B*T*H, W, 3)
    expected = torch.from_numpy(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)).reshape(4, 8, 32, 32)
    difference = (grey[:, :, 0].int() - expected.int()).abs()
    assert difference.max() <= 1
    assert (difference > 0).float().mean() < 0.005
