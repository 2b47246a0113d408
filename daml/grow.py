"""Function-preserving growth of a meta-trained policy MLP (Net2Net, Chen et al. 2016).

A small CPU-trained checkpoint can seed a larger model without starting over: hidden layers are
widened and identity layers inserted so that the grown policy computes exactly what the old one
did before the inner step, and after it exactly when no units are added (within a small margin
otherwise, see NEW_UNIT_SCALE); meta-training then uses the new capacity.

How each new policy tensor is filled (W: (out, in) weight, b: bias):
  * the first len(old) - 1 hidden layers are the old ones, widened: the old units keep their
    weights (with zeros from the previous layer's new units) and the new units get a fresh init;
  * inserted layers (before the last hidden layer) carry the previous layer's old units through
    an identity block (b = 0; exact after the ReLU because its inputs are >= 0); their other
    units get a fresh init;
  * the last hidden layer keeps its width and weights (the action head and the learned temporal
    loss read it), with zeros for inputs from new units.
So new units start with zero outgoing weights, and their incoming weights and biases at
NEW_UNIT_SCALE times a fresh init: small enough that the inner step's gradient through them
(which is proportional to their activations) barely changes the adapted policy, yet not dead.
Inner learning rates: the old tensors keep theirs; inserted layers start at 0, so the first inner
step does not move them (the meta-gradient moves the rates off 0).

Must not import sim, cv2 or data code.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from daml.config import ModelConfig
from daml.errors import ConfigError
from daml.meta import ALPHA_PREFIX, Params, init_params

POLICY_LAYER = "policy.hidden_layers.{}.{}"
NEW_UNIT_SCALE = 0.1


def check_growable(old: tuple[int, ...], new: tuple[int, ...]) -> None:
    """Raise ConfigError unless hidden sizes `old` can grow into `new` (see the module doc)."""
    problems = []
    if len(new) < len(old):
        problems.append("it has fewer layers")
    elif len(old) == 1 and len(new) > 1:
        problems.append("layers are inserted before the last one, and there is only one")
    elif new[-1] != old[-1]:
        problems.append(f"its last width must stay {old[-1]} (the adapted layer)")
    elif any(n < o for n, o in zip(new[: len(old) - 1], old[:-1], strict=True)):
        problems.append("a kept layer would shrink")
    elif any(width < old[-2] for width in new[len(old) - 1 : -1]):  # (none when len(old) == 1)
        problems.append(f"inserted layers must be at least {old[-2]} wide")
    if problems:
        raise ConfigError(
            f"cannot grow the policy's hidden sizes {list(old)} into {list(new)}: "
            f"{problems[0]}; widen or add layers before the last one, keeping its width"
        )


def grow_policy(
    params: Params, config: ModelConfig, hidden_sizes: tuple[int, ...], seed: int
) -> tuple[Params, ModelConfig]:
    """The params of `config`'s model with its policy MLP grown to `hidden_sizes`.

    Args:
        params: a meta checkpoint's params (theta, psi, inner_lr.*) for `config`.
        hidden_sizes: the new widths; see check_growable. Equal sizes return copies.
        seed: seeds the fresh init of new units.

    Returns:
        (new params as CPU tensors, the model config with hidden_sizes replaced).
    """
    old_sizes, new_sizes = tuple(config.hidden_sizes), tuple(int(h) for h in hidden_sizes)
    check_growable(old_sizes, new_sizes)
    new_config = replace(config, hidden_sizes=new_sizes)
    fresh = init_params(new_config, torch.Generator().manual_seed(seed))
    old = {k: v.detach().cpu() for k, v in params.items()}
    grown = {k: old.get(k, v).clone() for k, v in fresh.items()}
    grown.update(_grown_hidden_layers(old, fresh, old_sizes, new_sizes))
    return {k: v.detach() for k, v in grown.items()}, new_config


def _grown_hidden_layers(
    old: Params, fresh: Params, old_sizes: tuple[int, ...], new_sizes: tuple[int, ...]
) -> Params:
    """New weights, biases and inner learning rates of every hidden layer (module doc)."""
    out: Params = {}
    kept = len(old_sizes) - 1  # layers 0 .. kept-1 keep their units; the last is moved to the end
    carried = old_sizes[-2] if kept else 0  # old units that inserted layers pass through
    for index in range(len(new_sizes)):
        weight = fresh[POLICY_LAYER.format(index, "weight")] * NEW_UNIT_SCALE
        bias = fresh[POLICY_LAYER.format(index, "bias")] * NEW_UNIT_SCALE
        alpha_w = alpha_b = torch.zeros(())
        if index < kept or index == len(new_sizes) - 1:
            old_index = index if index < kept else kept
            old_w = old[POLICY_LAYER.format(old_index, "weight")]
            units, inputs = old_w.shape
            weight[:units] = 0.0
            weight[:units, :inputs] = old_w
            bias[:units] = old[POLICY_LAYER.format(old_index, "bias")]
            alpha_w = old[ALPHA_PREFIX + POLICY_LAYER.format(old_index, "weight")]
            alpha_b = old[ALPHA_PREFIX + POLICY_LAYER.format(old_index, "bias")]
        else:  # inserted: identity over the previous layer's old units
            weight[:carried] = 0.0
            weight[:carried, :carried] = torch.eye(carried)
            bias[:carried] = 0.0
        out[POLICY_LAYER.format(index, "weight")] = weight
        out[POLICY_LAYER.format(index, "bias")] = bias
        out[ALPHA_PREFIX + POLICY_LAYER.format(index, "weight")] = alpha_w.clone()
        out[ALPHA_PREFIX + POLICY_LAYER.format(index, "bias")] = alpha_b.clone()
    return out
