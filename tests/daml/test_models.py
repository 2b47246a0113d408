"""Encoder, policy and learned temporal loss: shapes, ranges, spatial softmax geometry, configs."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.func import functional_call

from daml.config import MetaConfig, ModelConfig, RunConfig, TrainConfig
from daml.encoder import ChannelLayerNorm, Encoder, spatial_softmax
from daml.errors import ConfigError
from daml.meta import ALPHA_PREFIX, build_model, init_params, param_shapes
from daml.temporal_loss import TemporalLoss


def sub(params: dict, prefix: str) -> dict:
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def real_temporal_loss(config: ModelConfig, psi: dict) -> TemporalLoss:
    module = TemporalLoss(config)
    module.load_state_dict({k: v.detach() for k, v in psi.items()})
    return module


@pytest.fixture
def model_and_params(tiny_model):
    return build_model(tiny_model), init_params(tiny_model, torch.Generator().manual_seed(0))


def test_spatial_softmax_finds_a_hot_pixel():
    features = torch.zeros(1, 2, 9, 9)
    features[0, 0, 2, 6] = 50.0  # row 2, column 6
    features[0, 1, 8, 0] = 50.0  # bottom-left corner
    points = spatial_softmax(features)
    assert points.shape == (1, 4)  # [x0, x1, y0, y1]
    step = 2.0 / 8
    torch.testing.assert_close(points[0], torch.tensor([-1 + 6 * step, -1.0, -1 + 2 * step, 1.0]))


def test_channel_layer_norm_normalises_each_image_over_c_h_w():
    norm = ChannelLayerNorm(3)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
        norm.bias.copy_(torch.tensor([0.0, -1.0, 1.0]))
    x = torch.randn(4, 3, 5, 6) * 3 + 2
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    var = x.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
    expected = (x - mean) / torch.sqrt(var + 1e-5) * norm.weight[:, None, None]
    torch.testing.assert_close(norm(x), expected + norm.bias[:, None, None])


def test_encoder_gives_feature_points_in_range(model_and_params, tiny_model):
    model, params = model_and_params
    frames = torch.randint(
        0, 256, (5, 3, tiny_model.image_px, tiny_model.image_px), dtype=torch.uint8
    )
    points = functional_call(model.encoder, sub(params, "encoder."), (frames,))
    assert points.shape == (5, 2 * tiny_model.conv_channels[-1])
    assert points.abs().max() <= 1.0
    as_float = functional_call(model.encoder, sub(params, "encoder."), (frames.float() / 255,))
    torch.testing.assert_close(points, as_float)


def test_policy_outputs(model_and_params, tiny_model):
    model, params = model_and_params
    points = torch.rand(6, 2 * tiny_model.conv_channels[-1]) * 2 - 1
    out = functional_call(model.policy, sub(params, "policy."), (points, torch.randn(6, 4)))
    assert out.hidden.shape == (6, tiny_model.hidden_sizes[-1])
    assert (out.hidden >= 0).all()  # ReLU layer
    assert out.motion.shape == (6, 3) and out.motion.abs().max() <= 1.0
    assert out.gripper_logit.shape == (6,)
    assert out.aux.shape == (6, 3)


def test_policy_without_aux_head_has_no_aux_params():
    config = ModelConfig(image_px=16, episode_steps=8, aux_head=False)
    assert not any("aux_head" in name for name in param_shapes(config))


def test_bias_transformation_changes_the_action(model_and_params, tiny_model):
    model, params = model_and_params
    points, state = torch.zeros(2, 2 * tiny_model.conv_channels[-1]), torch.zeros(2, 4)
    policy_params = sub(params, "policy.")
    before = functional_call(model.policy, policy_params, (points, state)).motion
    shifted = {**policy_params, "bias_transform": policy_params["bias_transform"] + 1.0}
    after = functional_call(model.policy, shifted, (points, state)).motion
    assert not torch.allclose(before, after)


@pytest.mark.parametrize("steps", [1, 5, 8, 40])
def test_temporal_loss_is_mean_squared_scaled_output(tiny_model, steps):
    model = build_model(tiny_model)
    psi = sub(init_params(tiny_model, torch.Generator().manual_seed(1)), "temporal_loss.")
    activations = torch.rand(steps, tiny_model.hidden_sizes[-1])
    loss = functional_call(model.temporal_loss, psi, (activations,))
    outputs = real_temporal_loss(tiny_model, psi).outputs(activations)
    assert outputs.shape == (steps, tiny_model.temporal_out)
    assert loss.shape == () and loss > 0
    torch.testing.assert_close(loss, (tiny_model.temporal_loss_scale * outputs).pow(2).mean())


def test_temporal_loss_mixes_time(tiny_model):
    psi = sub(init_params(tiny_model, torch.Generator().manual_seed(2)), "temporal_loss.")
    activations = torch.rand(8, tiny_model.hidden_sizes[-1])
    temporal_loss = real_temporal_loss(tiny_model, psi)
    changed = activations.clone()
    changed[4] += 1.0
    base, moved = temporal_loss.outputs(activations), temporal_loss.outputs(changed)
    differs = (moved - base).abs().sum(dim=1) > 0
    assert differs[3] and differs[5]  # kernel 3: neighbours of frame 4 see the change
    assert not differs[0] and not differs[7]


def test_param_shapes_match_init_params(tiny_model):
    params = init_params(tiny_model, torch.Generator().manual_seed(0))
    shapes = param_shapes(tiny_model)
    assert {k: tuple(v.shape) for k, v in params.items()} == shapes
    assert all(v.requires_grad and v.is_leaf for v in params.values())
    assert all(shapes[k] == () for k in shapes if k.startswith(ALPHA_PREFIX))


def test_default_model_is_cpu_sized():
    n_params = sum(int(torch.tensor(s).prod()) for s in param_shapes(ModelConfig()).values())
    assert 20_000 < n_params < 200_000


def test_run_config_json_round_trip():
    config = RunConfig(
        model=ModelConfig(conv_channels=(8, 16), conv_strides=(2, 1), state_std=(1, 2, 3, 4)),
        meta=MetaConfig(inner_steps=3, second_order=False),
        train=TrainConfig(steps=7),
    )
    again = RunConfig.from_json(config.to_json())
    assert again == config
    assert again.model.conv_channels == (8, 16)  # tuples survive JSON lists
    partial = RunConfig.from_dict({"meta": {"inner_lr": 0.005}})
    assert partial.meta.inner_lr == 0.005 and partial.model == ModelConfig()


@pytest.mark.parametrize(
    "raw",
    [
        {"model": {"image_px": 4}},
        {"model": {"conv_channels": [8, 8], "conv_strides": [2]}},
        {"model": {"conv_kernel": 4}},
        {"model": {"state_std": [1, 1, 0, 1]}},
        {"meta": {"inner_steps": -1}},
        {"meta": {"inner_lr": -1}},
        {"train": {"meta_batch": 0}},
        {"train": {"lr_schedule": "linear"}},
        {"train": {"final_lr_fraction": 1.5}},
        {"model": {"no_such_key": 1}},
        {"optimiser": {}},
        {"meta": {"inner_steps": "many"}},
        {"meta": {"human_video_color": "hsv"}},
        {"meta": {"aux_target": "object"}},
        {"train": {"human_hue_jitter": 1.5}},
        {"train": {"human_hue_jitter": -0.1}},
        {"train": {"hue_jitter_robot": True}},
        {"train": {"avatar_hue_jitter": 1.5}},
        {"train": {"avatar_hue_jitter": 0.5, "human_hue_jitter": 0.5}},
        {"train": {"init_image_px": 4}},
        {"train": {"init_image_px": -64}},
        {"train": {"init_conv_strides": [2, 3, 1]}},
        {"train": {"init_conv_dilations": [1, 0, 2]}},
        {"model": {"conv_dilations": [1, 2]}},
        {"model": {"conv_dilations": [1, 0, 1]}},
        {"model": {"conv_channels": "x"}},  # was a ValueError traceback
        {"model": {"conv_channels": "16"}},  # was read as (1, 6)
        {"model": {"hidden_sizes": [100, "wide"]}},
        {"model": {"state_mean": 0.0}},
        {"model": 3},
        {"train": {"steps": "many"}},
        {"train": {"init_hidden_sizes": "100"}},
    ],
)
def test_bad_configs_raise_config_error(raw):
    with pytest.raises(ConfigError):
        RunConfig.from_json(json.dumps(raw))


def test_dilated_finer_encoder_holds_the_coarse_map_at_its_even_cells():
    """Strides (2, 1, 1) with dilations (1, 1, 2) and the same weights compute the (2, 2, 1)
    encoder's convolutions at every other cell of a 2x finer map ("a trous"): the padding is
    dilation * (k // 2), so sizes and alignment match; only the layer norms' statistics (over
    the denser map) differ (measured on the shipped pick_place model: docs/BENCHMARKS.md)."""
    coarse_config = ModelConfig(image_px=32, conv_channels=(4, 4, 4), conv_strides=(2, 2, 1))
    fine_config = ModelConfig(
        image_px=32, conv_channels=(4, 4, 4), conv_strides=(2, 1, 1), conv_dilations=(1, 1, 2)
    )
    torch.manual_seed(0)
    coarse, fine = Encoder(coarse_config), Encoder(fine_config)
    fine.load_state_dict(coarse.state_dict())
    frames = torch.rand(3, 3, 32, 32)

    def convs_only(encoder: Encoder) -> torch.Tensor:
        x = frames
        for index, conv in enumerate(m for m in encoder.convs if isinstance(m, nn.Conv2d)):
            x = conv(torch.relu(x) if index else x)
        return x

    coarse_map, fine_map = convs_only(coarse), convs_only(fine)
    assert coarse_map.shape[-2:] == (8, 8) and fine_map.shape[-2:] == (16, 16)
    torch.testing.assert_close(fine_map[..., ::2, ::2], coarse_map)
