"""Side-by-side video frames for reports: human demo | robot rollout, upscaled for viewing.

Numpy only (nearest-neighbour scaling): must not import torch, sim or cv2.
"""

from __future__ import annotations

import numpy as np

from daml.errors import DataError

SEPARATOR_PX = 2
MIN_PANEL_PX = 192  # small sim images are upscaled by an integer factor to at least this height


def side_by_side(
    left: np.ndarray, right: np.ndarray, min_panel_px: int = MIN_PANEL_PX
) -> np.ndarray:
    """Two clips as one: uint8 (N1, H1, W1, 3) | (N2, H2, W2, 3) -> (N2, H, W, 3).

    The left clip is resampled in time to the right one's N2 frames; both panels are scaled
    (nearest neighbour) to the right clip's height times an integer factor >= min_panel_px.
    """
    left, right = np.asarray(left), np.asarray(right)
    for name, clip in (("left", left), ("right", right)):
        if clip.dtype != np.uint8 or clip.ndim != 4 or clip.shape[-1] != 3 or not len(clip):
            raise DataError(
                f"{name} clip must be uint8 (N, H, W, 3), got {clip.dtype} {clip.shape}"
            )
    height = right.shape[1] * max(1, -(-min_panel_px // right.shape[1]))
    times = np.floor(np.linspace(0, len(left) - 1, len(right)) + 0.5).astype(np.int64)
    panels = [_scale_to_height(left[times], height), _scale_to_height(right, height)]
    gap = np.full((len(right), height, SEPARATOR_PX, 3), 255, np.uint8)
    return np.concatenate([panels[0], gap, panels[1]], axis=2)


def _scale_to_height(clip: np.ndarray, height: int) -> np.ndarray:
    """(N, H, W, 3) -> (N, height, round(W * height / H), 3) by nearest-neighbour indexing."""
    src_h, src_w = clip.shape[1:3]
    width = max(1, round(src_w * height / src_h))
    rows = np.minimum((np.arange(height) * src_h) // height, src_h - 1)
    cols = np.minimum((np.arange(width) * src_w) // width, src_w - 1)
    return clip[:, rows][:, :, cols]
