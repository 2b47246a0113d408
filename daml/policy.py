"""Policy MLP over [feature points, robot state, bias-transformation vector] and its aux head.

A pure nn.Module (MIL, Finn et al. 2017 sec. 4.1); must not import sim, cv2 or data code.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from daml import ACTION_DIM, STATE_DIM
from daml.config import ModelConfig

MOTION_DIM = 3  # [dx, dy, dz]; action[..., 3] is the gripper
AUX_DIM = 3  # an end-effector xyz (meta.aux_target: the final one, or the grasp)


class PolicyOutput(NamedTuple):
    """What one policy pass gives, for N frames.

    hidden: (N, hidden_sizes[-1]) last hidden layer (what the learned temporal loss reads).
    motion: (N, 3) end-effector motion in [-1, 1] (tanh).
    gripper_logit: (N,) > 0 means close.
    aux: (N, 3) predicted end-effector position of meta.aux_target (normalised state units),
        from the image features alone; zeros when the model has no aux head.
    """

    hidden: Tensor
    motion: Tensor
    gripper_logit: Tensor
    aux: Tensor


class Policy(nn.Module):
    """MLP: [points (F), state (4), bias transform (D)] -> ReLU hidden layers -> action (4)."""

    def __init__(self, config: ModelConfig, feature_dim: int) -> None:
        super().__init__()
        self.bias_transform = nn.Parameter(torch.zeros(config.bias_transform_dim))
        sizes = [feature_dim + STATE_DIM + config.bias_transform_dim, *config.hidden_sizes]
        self.hidden_layers = nn.ModuleList(
            nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.action_head = nn.Linear(sizes[-1], ACTION_DIM)
        self.aux_head = nn.Linear(feature_dim, AUX_DIM) if config.aux_head else None

    def forward(self, points: Tensor, state: Tensor) -> PolicyOutput:
        """points (N, F) feature points, state (N, 4) normalised robot state -> PolicyOutput."""
        bias = self.bias_transform.expand(points.shape[0], -1)
        x = torch.cat([points, state, bias], dim=-1)
        for layer in self.hidden_layers:
            x = torch.relu(layer(x))
        out = self.action_head(x)
        if self.aux_head is not None:
            aux = self.aux_head(points)
        else:
            aux = points.new_zeros(points.shape[0], AUX_DIM)
        return PolicyOutput(x, torch.tanh(out[:, :MOTION_DIM]), out[:, MOTION_DIM], aux)


def aux_target_position(states: Tensor, closes: Tensor, aux_target: str) -> Tensor:
    """The end-effector position the aux head learns to predict from every frame of a demo.

    states (T, 4) normalised robot states, closes (T,) 1.0 where the action closes the gripper
    -> (3,): the last position ("final"), or the position where the gripper starts closing for
    the last time ("grasp": the grasp that holds; a demo that misses its first grasp and
    recovers closes twice; the last position when no step closes). Written without
    data-dependent indexing, so it runs under torch.func.vmap.
    """
    last = torch.zeros(closes.shape[-1], dtype=closes.dtype, device=closes.device)
    last[-1] = 1.0
    if aux_target == "final":
        weights = last
    else:
        before = torch.cat([closes.new_zeros(1), closes[:-1]])
        onsets = closes * (1.0 - before)
        later = torch.flip(torch.cumsum(torch.flip(onsets, [0]), dim=0), [0])
        final_onset = onsets * (later == 1).to(closes.dtype)
        weights = final_onset + last * (1.0 - final_onset.sum())
    return weights @ states[:, :3]
