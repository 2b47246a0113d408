"""The bi-level DAML algorithm: inner adaptation on a human video, outer BC loss on the robot demo.

Parameters live in one flat dict (theta: `encoder.*`, `policy.*`; psi: `temporal_loss.*`; alpha:
`inner_lr.<theta name>`) and modules run through torch.func.functional_call, so adapted
parameters never mutate a module. A meta-batch is ONE vmapped computation over tasks. The
baselines run through the same code (MetaConfig): inner_source="robot_demo" (MIL oracle: BC
inner step on the robot demo) and inner_steps=0 (plain behaviour cloning).
Must not import sim, cv2 or data-format code.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad_and_value, vmap

from daml import STATE_DIM
from daml.config import MetaConfig, ModelConfig
from daml.copy_step import copy_steps, inner_step
from daml.encoder import ChannelLayerNorm, Encoder
from daml.errors import ConfigError
from daml.luminance import luminance_frames
from daml.policy import Policy, PolicyOutput, aux_target_position
from daml.temporal_loss import TemporalLoss

if TYPE_CHECKING:  # annotations only: the learner never reads the dataset format
    from daml.meta_batch import MetaBatch

Params = dict[str, Tensor]
THETA_PREFIXES = ("encoder.", "policy.")
PSI_PREFIX = "temporal_loss."
ALPHA_PREFIX = "inner_lr."
FIRST_ORDER_WARNING = (
    "DAML first-order mode: the inner gradient step is detached, so only theta (encoder, "
    "policy) learns; the learned temporal loss psi and the inner learning rates alpha get no "
    "gradient and stay at their initial values"
)


class DamlModel(nn.Module):
    """Structure only: encoder + policy (theta) and learned temporal loss (psi).

    Built on the meta device (no storage): every call goes through functional_call with a
    params dict from `init_params`.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.policy = Policy(config, self.encoder.feature_dim)
        self.temporal_loss = TemporalLoss(config)


def build_model(config: ModelConfig) -> DamlModel:
    """The parameter-free module structure for `config`."""
    with torch.device("meta"):
        return DamlModel(config)


def init_params(
    model_config: ModelConfig, generator: torch.Generator, meta_config: MetaConfig | None = None
) -> Params:
    """Fresh theta, psi and alpha as CPU leaf tensors (alpha requires grad only if learned).

    Conv/linear weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's default
    scale), norms at identity, bias transformation at zero, alpha = meta_config.inner_lr.
    """
    meta_config = meta_config or MetaConfig()
    params: Params = {}
    for module_name, module in build_model(model_config).named_modules():
        for name, meta_tensor in module.named_parameters(recurse=False):
            full_name = f"{module_name}.{name}"
            params[full_name] = _init_tensor(module, name, meta_tensor.shape, generator)
    for name in [n for n in params if n.startswith(THETA_PREFIXES)]:
        params[ALPHA_PREFIX + name] = torch.tensor(meta_config.inner_lr)
    for name, tensor in params.items():
        tensor.requires_grad_(_learns(name, meta_config))
    return params


def _learns(name: str, meta_config: MetaConfig) -> bool:
    return meta_config.learn_inner_lr or not name.startswith(ALPHA_PREFIX)


def param_shapes(model_config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every entry init_params makes (theta, psi, then alpha: scalars)."""
    shapes = {
        f"{module_name}.{name}": tuple(tensor.shape)
        for module_name, module in build_model(model_config).named_modules()
        for name, tensor in module.named_parameters(recurse=False)
    }
    alphas = {ALPHA_PREFIX + k: () for k in shapes if k.startswith(THETA_PREFIXES)}
    return {**shapes, **alphas}


def _init_tensor(
    module: nn.Module, name: str, shape: torch.Size, generator: torch.Generator
) -> Tensor:
    if isinstance(module, nn.LayerNorm | ChannelLayerNorm):
        return torch.ones(shape) if name == "weight" else torch.zeros(shape)
    if isinstance(module, Policy):  # the bias-transformation vector
        return torch.zeros(shape)
    fan_in = module.weight.shape[1] * module.weight[0, 0].numel()
    bound = fan_in**-0.5
    return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * bound


def theta_of(params: Params) -> Params:
    """The policy parameters (encoder + policy), the ones the inner step adapts."""
    return {k: v for k, v in params.items() if k.startswith(THETA_PREFIXES)}


def trainable_params(params: Params, meta_config: MetaConfig) -> list[Tensor]:
    """What the outer Adam updates: theta, psi, and alpha when it is learned (fixed order)."""
    return [v for k, v in params.items() if _learns(k, meta_config)]


def _sub(params: Params, prefix: str) -> Params:
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def normalise_states(states: Tensor, config: ModelConfig) -> Tensor:
    """(..., 4) robot states in metres -> (..., 4) standardised with the config's statistics."""
    mean = torch.tensor(config.state_mean, dtype=states.dtype, device=states.device)
    std = torch.tensor(config.state_std, dtype=states.dtype, device=states.device)
    return (states - mean) / std


def policy_pass(model: DamlModel, theta: Params, frames: Tensor, states: Tensor) -> PolicyOutput:
    """frames (T, 3, H, W) uint8, normalised states (T, 4) -> PolicyOutput over T frames."""
    points = functional_call(model.encoder, _sub(theta, "encoder."), (frames,))
    return functional_call(model.policy, _sub(theta, "policy."), (points, states))


def inner_loss(model: DamlModel, theta: Params, psi: Params, human_frames: Tensor) -> Tensor:
    """L_psi on the policy's last hidden layer over the human video, robot state zeroed.

    human_frames: (T, 3, H, W) uint8 -> scalar.
    """
    dtype = next(iter(theta.values())).dtype
    zero_states = torch.zeros(
        human_frames.shape[0], STATE_DIM, dtype=dtype, device=human_frames.device
    )
    hidden = policy_pass(model, theta, human_frames, zero_states).hidden
    return functional_call(model.temporal_loss, _sub(psi, PSI_PREFIX), (hidden,))


def adapt_theta(
    model: DamlModel,
    params: Params,
    demo_frames: Tensor,
    meta_config: MetaConfig,
    demo_states: Tensor | None = None,
    demo_actions: Tensor | None = None,
) -> tuple[Params, Tensor]:
    """K inner steps phi = theta - alpha * clip(grad_theta L_inner(theta, demo)).

    (Scaled per tensor on a widened model: daml/copy_step.py.)

    L_inner is the learned temporal loss L_psi on the human video (meta_config.inner_source
    "human_video", DAML) or the BC loss on the robot demo with its actions ("robot_demo", the
    MIL oracle). Differentiable w.r.t. theta, psi and alpha (second order) unless
    meta_config.second_order is False, in which case each step is detached (first order).
    inner_steps = 0 returns theta itself (plain behaviour cloning).

    Args:
        demo_frames: (T, 3, H, W) uint8: the human video, or the robot demo's frames.
        demo_states, demo_actions: (T, 4) robot demo states and actions ("robot_demo" only).

    Returns:
        (adapted theta, inner loss before the first step: scalar; 0 when inner_steps = 0).
    """
    theta = theta_of(params)
    psi = {k: v for k, v in params.items() if k.startswith(PSI_PREFIX)}
    inner_fn = inner_objective(model, psi, demo_frames, demo_states, demo_actions, meta_config)
    clip, scales = meta_config.inner_grad_clip, copy_steps(model.config)
    first_loss = None
    for _ in range(meta_config.inner_steps):
        grads, loss = grad_and_value(inner_fn)(theta)
        first_loss = loss if first_loss is None else first_loss
        adapted = {}
        for name, value in theta.items():
            step = inner_step(grads[name], params[ALPHA_PREFIX + name], clip, scales.get(name))
            adapted[name] = value - (step if meta_config.second_order else step.detach())
        theta = adapted
    if first_loss is None:  # plain BC: nothing adapts, report a zero inner loss
        first_loss = torch.zeros((), dtype=next(iter(theta.values())).dtype)
    return theta, first_loss


def inner_objective(
    model: DamlModel,
    psi: Params,
    demo_frames: Tensor,
    demo_states: Tensor | None,
    demo_actions: Tensor | None,
    meta_config: MetaConfig,
) -> Callable[[Params], Tensor]:
    """theta -> the inner loss of meta_config.inner_source on this task's demo."""
    if meta_config.inner_source == "human_video":
        if meta_config.human_video_color == "gray":
            demo_frames = luminance_frames(demo_frames)
        return lambda theta: inner_loss(model, theta, psi, demo_frames)
    if demo_states is None or demo_actions is None:
        raise ConfigError(
            "meta.inner_source='robot_demo' adapts on a robot demo: pass its states and actions "
            "(a human video alone cannot be used with this checkpoint)"
        )
    return lambda theta: bc_losses(
        model, theta, demo_frames, demo_states, demo_actions, meta_config
    )["bc"]


def inner_inputs(
    meta_config: MetaConfig,
    human_frames: Tensor,
    robot_frames: Tensor,
    robot_states: Tensor,
    robot_actions: Tensor,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """(demo_frames, demo_states, demo_actions) that adapt_theta takes for this inner_source."""
    if meta_config.inner_source == "robot_demo":
        return robot_frames, robot_states, robot_actions
    return human_frames, None, None


def bc_losses(
    model: DamlModel,
    theta: Params,
    robot_frames: Tensor,
    robot_states: Tensor,
    robot_actions: Tensor,
    meta_config: MetaConfig,
) -> dict[str, Tensor]:
    """Behaviour-cloning losses of pi_theta on one robot demo (scalars).

    robot_frames (T, 3, H, W) uint8, robot_states (T, 4), robot_actions (T, 4) ->
    {"motion": MSE, "gripper": BCE (target action[:, 3] > 0), "aux": MSE of the predicted
    end-effector position (meta_config.aux_target), "bc": motion + w_g * gripper,
    "total": bc + w_aux * aux}.
    """
    states = normalise_states(robot_states, model.config)
    out = policy_pass(model, theta, robot_frames, states)
    motion = F.mse_loss(out.motion, robot_actions[:, :3])
    gripper_target = (robot_actions[:, 3] > 0).to(out.gripper_logit.dtype)
    gripper = F.binary_cross_entropy_with_logits(out.gripper_logit, gripper_target)
    aux_position = aux_target_position(states, gripper_target, meta_config.aux_target)
    aux = F.mse_loss(out.aux, aux_position.expand_as(out.aux))
    bc = motion + meta_config.gripper_loss_weight * gripper
    total = bc + meta_config.aux_loss_weight * aux if model.config.aux_head else bc
    return {"total": total, "bc": bc, "motion": motion, "gripper": gripper, "aux": aux}


def task_meta_loss(
    model: DamlModel,
    params: Params,
    human_frames: Tensor,
    robot_frames: Tensor,
    robot_states: Tensor,
    robot_actions: Tensor,
    meta_config: MetaConfig,
) -> dict[str, Tensor]:
    """Outer losses of one task after adapting on its inner demo (unbatched; see meta_loss)."""
    frames, states, actions = inner_inputs(
        meta_config, human_frames, robot_frames, robot_states, robot_actions
    )
    adapted, inner = adapt_theta(model, params, frames, meta_config, states, actions)
    losses = bc_losses(model, adapted, robot_frames, robot_states, robot_actions, meta_config)
    return {**losses, "inner": inner}


def meta_loss(
    model: DamlModel, params: Params, batch: MetaBatch, meta_config: MetaConfig
) -> tuple[Tensor, dict[str, float]]:
    """Mean outer loss over a meta-batch, as one torch.func.vmap over tasks.

    batch: MetaBatch with human_frames/robot_frames (B, T, 3, H, W) uint8, robot_states and
    robot_actions (B, T, 4). Returns (scalar loss to backpropagate, float metrics).
    """
    _warn_if_first_order(meta_config)

    def one_task(hf: Tensor, rf: Tensor, rs: Tensor, ra: Tensor) -> dict[str, Tensor]:
        return task_meta_loss(model, params, hf, rf, rs, ra, meta_config)

    per_task = vmap(one_task)(
        batch.human_frames, batch.robot_frames, batch.robot_states, batch.robot_actions
    )
    return per_task["total"].mean(), _metrics(per_task)


def meta_loss_per_task(
    model: DamlModel, params: Params, batch: MetaBatch, meta_config: MetaConfig
) -> tuple[Tensor, dict[str, float]]:
    """Same value and gradients as meta_loss, computed by a Python loop over tasks.

    The baseline of benchmarks/meta_throughput.py; also train.batching="loop", which is
    faster than vmap's grouped convolutions on a small CPU (not on a GPU).
    """
    _warn_if_first_order(meta_config)
    results = [
        task_meta_loss(model, params, hf, rf, rs, ra, meta_config)
        for hf, rf, rs, ra in zip(
            batch.human_frames,
            batch.robot_frames,
            batch.robot_states,
            batch.robot_actions,
            strict=True,
        )
    ]
    per_task = {key: torch.stack([r[key] for r in results]) for key in results[0]}
    return per_task["total"].mean(), _metrics(per_task)


def validation_losses(
    model: DamlModel, params: Params, batch: MetaBatch, meta_config: MetaConfig
) -> dict[str, float]:
    """Mean BC loss before and after adaptation on a meta-batch (no outer graph is kept).

    Returns {"pre_bc", "post_bc", "pre_total", "post_total", "inner"}.
    """

    def one_task(hf: Tensor, rf: Tensor, rs: Tensor, ra: Tensor) -> dict[str, Tensor]:
        pre = bc_losses(model, theta_of(params), rf, rs, ra, meta_config)
        frames, states, actions = inner_inputs(meta_config, hf, rf, rs, ra)
        adapted, inner = adapt_theta(model, params, frames, meta_config, states, actions)
        post = bc_losses(model, adapted, rf, rs, ra, meta_config)
        return {
            "pre_bc": pre["bc"],
            "post_bc": post["bc"],
            "pre_total": pre["total"],
            "post_total": post["total"],
            "inner": inner,
        }

    with torch.no_grad():  # torch.func.grad inside still differentiates the inner loss
        per_task = vmap(one_task)(
            batch.human_frames, batch.robot_frames, batch.robot_states, batch.robot_actions
        )
    return {key: float(value.mean()) for key, value in per_task.items()}


def adapt(
    model: DamlModel,
    params: Params,
    demo_frames: Tensor,
    meta_config: MetaConfig,
    demo_states: Tensor | None = None,
    demo_actions: Tensor | None = None,
) -> Params:
    """Test-time adaptation from one demo -> adapted theta (detached).

    demo_frames: (T, 3, H, W) uint8 human video ("human_video"), or robot demo frames with
    demo_states / demo_actions (T, 4) ("robot_demo"). inner_steps = 0 returns theta as is.
    """
    with torch.no_grad():
        adapted, _ = adapt_theta(model, params, demo_frames, meta_config, demo_states, demo_actions)
    return {k: v.detach() for k, v in adapted.items()}


def _metrics(per_task: dict[str, Tensor]) -> dict[str, float]:
    return {key: float(value.detach().mean()) for key, value in per_task.items()}


def _warn_if_first_order(meta_config: MetaConfig) -> None:
    if not meta_config.second_order and meta_config.inner_steps > 0:
        warnings.warn(FIRST_ORDER_WARNING, stacklevel=3)


@dataclass
class Learner:
    """A meta-trained (or fresh) DAML learner: configs, module structure and params."""

    model_config: ModelConfig
    meta_config: MetaConfig
    params: Params
    model: DamlModel = field(init=False)

    def __post_init__(self) -> None:
        self.model = build_model(self.model_config)

    @classmethod
    def create(cls, model_config: ModelConfig, meta_config: MetaConfig, seed: int) -> Learner:
        generator = torch.Generator().manual_seed(seed)
        return cls(model_config, meta_config, init_params(model_config, generator, meta_config))

    def to(self, device: torch.device | str) -> Learner:
        """Move params to `device` in place, as leaves that require grad if they learn."""
        self.params = {
            k: v.detach().to(device).requires_grad_(_learns(k, self.meta_config))
            for k, v in self.params.items()
        }
        return self
