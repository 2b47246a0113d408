"""The learned temporal adaptation loss L_psi over a per-frame activation sequence (DAML sec. 4.2).

A pure nn.Module; must not import sim, cv2 or data code.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from daml.config import ModelConfig


class TemporalLoss(nn.Module):
    """Released DAML settings: Conv1d(k) + LN + ReLU, Conv1d(k) + LN + ReLU, Conv1d(1).

    The loss is mean((scale * out)^2) over time and output channels. Temporal convolutions
    are 'same'-padded with zeros so any sequence length T >= 1 works.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        width, kernel = config.temporal_channels, config.temporal_kernel
        self.conv1 = nn.Conv1d(config.hidden_sizes[-1], width, kernel)
        self.norm1 = nn.LayerNorm(width)
        self.conv2 = nn.Conv1d(width, width, kernel)
        self.norm2 = nn.LayerNorm(width)
        self.conv3 = nn.Conv1d(width, config.temporal_out, 1)
        self.scale = config.temporal_loss_scale
        self._pad = ((kernel - 1) // 2, kernel // 2)

    def _conv_norm_relu(self, x: Tensor, conv: nn.Conv1d, norm: nn.LayerNorm) -> Tensor:
        """(1, C_in, T) -> (1, C_out, T); layer norm over channels at each time step."""
        x = conv(F.pad(x, self._pad))
        return F.relu(norm(x.transpose(1, 2)).transpose(1, 2))

    def outputs(self, activations: Tensor) -> Tensor:
        """(T, F) activation sequence -> (T, temporal_out) raw outputs."""
        x = activations.transpose(0, 1).unsqueeze(0)  # (1, F, T)
        x = self._conv_norm_relu(x, self.conv1, self.norm1)
        x = self._conv_norm_relu(x, self.conv2, self.norm2)
        return self.conv3(x)[0].transpose(0, 1)

    def forward(self, activations: Tensor) -> Tensor:
        """(T, F) activation sequence -> scalar loss mean((scale * out)^2)."""
        return (self.scale * self.outputs(activations)).pow(2).mean()
