"""The human-video hue rotation used in meta-training (daml/augment.py)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from daml.augment import hue_angles, rotate_hue
from daml.luminance import luminance_frames


def videos(seed: int, batch: int = 3, low: int = 40, high: int = 200) -> torch.Tensor:
    """uint8 (B, 4, 3, 8, 8) of mid-range colours (rotations of them stay inside 0..255)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, (batch, 4, 3, 8, 8), generator=generator, dtype=torch.uint8)


def hsv_hue_degrees(rgb: np.ndarray) -> float:
    """One RGB colour (3,) uint8 -> its HSV hue in degrees (OpenCV: 0..179 is 0..358)."""
    return 2.0 * float(cv2.cvtColor(rgb.reshape(1, 1, 3), cv2.COLOR_RGB2HSV)[0, 0, 0])


def test_zero_angle_is_the_identity_and_each_video_gets_its_own_angle():
    frames = videos(0)
    same = rotate_hue(frames, torch.zeros(3))
    assert same.dtype == torch.uint8 and torch.equal(same, frames)
    mixed = rotate_hue(frames, torch.tensor([0.0, math.pi / 2, 0.0]))
    assert torch.equal(mixed[0], frames[0]) and torch.equal(mixed[2], frames[2])
    assert (mixed[1].int() - frames[1].int()).abs().max() > 20


def test_rotation_keeps_luminance_and_turns_the_hue():
    frames = videos(1, low=90, high=160)  # a rotation of these never clips
    for angle in (math.pi / 3, math.pi, -2.0):
        rotated = rotate_hue(frames, torch.full((3,), angle))
        luma_change = luminance_frames(rotated).int() - luminance_frames(frames).int()
        assert luma_change.abs().max() <= 1, angle  # rounding only
    colour = np.array([60, 160, 90], np.uint8)  # a green, HSV hue ~137 degrees
    one = torch.from_numpy(colour).reshape(1, 1, 3, 1, 1)
    turned = rotate_hue(one, torch.tensor([math.pi])).reshape(3).numpy()
    shift = (hsv_hue_degrees(turned) - hsv_hue_degrees(colour)) % 360
    assert 150 <= shift <= 210  # about half way round the colour wheel


def test_rotation_and_its_inverse_return_the_video():
    frames = videos(2, low=90, high=160)
    there = rotate_hue(frames, torch.full((3,), 1.3))
    back = rotate_hue(there, torch.full((3,), -1.3))
    assert (back.int() - frames.int()).abs().max() <= 2  # two roundings to uint8


def test_angles_are_fixed_by_seed_and_step_and_bounded():
    a = hue_angles(seed=5, step=10, count=64, jitter=0.5)
    assert torch.equal(a, hue_angles(seed=5, step=10, count=64, jitter=0.5))
    assert not torch.equal(a, hue_angles(seed=5, step=11, count=64, jitter=0.5))
    assert a.shape == (64,) and a.abs().max() <= 0.5 * math.pi
    assert a.std() > 0.5  # spread over the range, not a constant
    off = hue_angles(seed=5, step=10, count=4, jitter=0.0)
    assert torch.equal(off, torch.zeros(4, dtype=a.dtype))


def test_masked_rotation_turns_only_the_masked_pixels():
    frames = videos(4)
    masks = torch.rand(3, 4, 8, 8, generator=torch.Generator().manual_seed(4)) < 0.3
    angles = torch.tensor([2.0, -1.0, 0.5])
    turned = rotate_hue(frames, angles, masks)
    everywhere = rotate_hue(frames, angles)
    inside = masks.unsqueeze(2).expand_as(frames)
    assert torch.equal(turned[inside], everywhere[inside])
    assert torch.equal(turned[~inside], frames[~inside])
    assert not torch.equal(turned, frames)


def test_wrong_shapes_raise():
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"):
        rotate_hue(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.zeros(4))
    with pytest.raises(ValueError, match="angles"):
        rotate_hue(videos(3), torch.zeros(2))
    with pytest.raises(ValueError, match="masks"):
        rotate_hue(videos(3), torch.zeros(3), torch.ones(3, 4, 8, 7, dtype=torch.bool))
