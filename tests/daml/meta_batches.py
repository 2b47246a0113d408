"""Random meta-batches and learners shared by the tests of the bi-level step (test_meta.py,
test_widen_encoder.py): B tasks of T frames at PX x PX, float params that require grad."""

from __future__ import annotations

import torch

from daml.config import MetaConfig
from daml.meta import Learner
from daml.meta_batch import MetaBatch

B, T, PX = 3, 8, 16


def random_batch(seed: int, dtype: torch.dtype = torch.float32) -> MetaBatch:
    g = torch.Generator().manual_seed(seed)
    actions = torch.rand(B, T, 4, generator=g, dtype=dtype) * 2 - 1
    actions[..., 3] = torch.where(actions[..., 3] > 0, 1.0, -1.0)
    return MetaBatch(
        human_frames=torch.randint(0, 256, (B, T, 3, PX, PX), generator=g, dtype=torch.uint8),
        robot_frames=torch.randint(0, 256, (B, T, 3, PX, PX), generator=g, dtype=torch.uint8),
        robot_states=torch.rand(B, T, 4, generator=g, dtype=dtype),
        robot_actions=actions,
    )


def make_learner(tiny_model, seed: int = 0, dtype=torch.float32, **meta) -> Learner:
    learner = Learner.create(tiny_model, MetaConfig(**meta), seed)
    learner.params = {
        k: v.detach().to(dtype).requires_grad_(True) for k, v in learner.params.items()
    }
    return learner


def gradients(learner: Learner, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    names = list(learner.params)
    grads = torch.autograd.grad(loss, [learner.params[n] for n in names], allow_unused=True)
    return dict(zip(names, grads, strict=True))
