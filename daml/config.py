"""Dataclass configs of the learner (model, meta-learning, training loop), validated and JSON-able.

Pure data: must not import torch, sim or any runtime module.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from daml.config_values import check_types, parse_like
from daml.errors import ConfigError

INNER_SOURCES = ("human_video", "robot_demo")  # what the inner step adapts on (MetaConfig)
AUX_TARGETS = ("final", "grasp")  # what the aux head predicts (MetaConfig.aux_target)
HUMAN_VIDEO_COLORS = ("rgb", "gray")  # how the inner step sees the human video (MetaConfig)
HUMAN_TAKES = ("random", "first")  # which human video of a multi-take episode a meta-batch gives
MAX_SEED = 2**32 - 1  # seeds are 32-bit numbers: torch's, numpy's and the sim's seeding take them


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _ints(name: str, value: Any) -> tuple[int, ...]:
    """A list of integers from JSON (a string such as "16" is refused, not read as (1, 6))."""
    _require(isinstance(value, list | tuple), f"{name} must be a list of integers, got {value!r}")
    return tuple(int(v) for v in value)


def _floats(name: str, value: Any) -> tuple[float, ...]:
    _require(isinstance(value, list | tuple), f"{name} must be a list of numbers, got {value!r}")
    return tuple(float(v) for v in value)


@dataclass
class ModelConfig:
    """Encoder, policy and learned temporal loss sizes (sim reference settings: DESIGN.md)."""

    image_px: int = 64  # square RGB input side; `daml train` takes it from the dataset manifest
    episode_steps: int = 40  # T frames per demo; `daml train` takes it from the dataset manifest
    conv_channels: tuple[int, ...] = (16, 16, 16)  # filters per conv layer
    conv_strides: tuple[int, ...] = (2, 2, 1)  # stride per conv layer
    conv_kernel: int = 5  # square kernel side of every conv layer
    conv_dilations: tuple[int, ...] = ()  # dilation per conv layer (padding keeps the map's
    # size); (): 1 for every layer
    conv_copies: tuple[int, ...] = ()  # per conv layer, how many copies of each channel
    # daml/widen_encoder.py made (the inner step is scaled to match: daml/copy_step.py); (): none
    hidden_sizes: tuple[int, ...] = (100, 100)  # policy MLP widths; the last is the adapted layer
    bias_transform_dim: int = 10  # learned vector concatenated to the policy input (MIL)
    aux_head: bool = True  # predict an end-effector position (meta.aux_target) from the image
    # features alone
    temporal_channels: int = 32  # filters of the learned temporal loss
    temporal_kernel: int = 10  # temporal kernel length (frames) of its first two layers
    temporal_out: int = 4  # output channels of the temporal loss (released: the action size)
    temporal_loss_scale: float = 50.0  # loss = mean((scale * out)^2) (released setting)
    state_mean: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)  # robot-state normaliser; set from data
    state_std: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        self.conv_channels = _ints("conv_channels", self.conv_channels)
        self.conv_strides = _ints("conv_strides", self.conv_strides)
        self.conv_dilations = _ints("conv_dilations", self.conv_dilations)
        self.conv_copies = _ints("conv_copies", self.conv_copies)
        self.hidden_sizes = _ints("hidden_sizes", self.hidden_sizes)
        self.state_mean = _floats("state_mean", self.state_mean)
        self.state_std = _floats("state_std", self.state_std)
        _require(self.image_px >= 8, f"image_px must be >= 8, got {self.image_px}")
        _require(self.episode_steps >= 2, f"episode_steps must be >= 2, got {self.episode_steps}")
        _require(
            len(self.conv_channels) >= 1 and len(self.conv_channels) == len(self.conv_strides),
            f"conv_channels {self.conv_channels} and conv_strides {self.conv_strides} must be "
            "non-empty and of equal length",
        )
        _require(
            all(c > 0 for c in self.conv_channels) and all(s in (1, 2) for s in self.conv_strides),
            f"conv_channels must be positive and conv_strides 1 or 2, got "
            f"{self.conv_channels} / {self.conv_strides}",
        )
        _require(self.conv_kernel % 2 == 1, f"conv_kernel must be odd, got {self.conv_kernel}")
        _require(
            not self.conv_dilations
            or (
                len(self.conv_dilations) == len(self.conv_channels)
                and all(d >= 1 for d in self.conv_dilations)
            ),
            f"conv_dilations {list(self.conv_dilations)} must be empty or give one dilation >= 1 "
            f"per conv layer ({len(self.conv_channels)})",
        )
        _require(
            not self.conv_copies
            or (
                len(self.conv_copies) == len(self.conv_channels)
                and all(
                    m >= 1 and c % m == 0
                    for m, c in zip(self.conv_copies, self.conv_channels, strict=True)
                )
            ),
            f"conv_copies {list(self.conv_copies)} must be empty or give, per conv layer, a "
            f"number of copies >= 1 that divides its channels {list(self.conv_channels)}",
        )
        final_px = self.image_px
        for stride in self.conv_strides:
            final_px = math.ceil(final_px / stride)
        _require(
            final_px >= 2, f"image_px {self.image_px} is too small for strides {self.conv_strides}"
        )
        _require(
            len(self.hidden_sizes) >= 1 and all(h > 0 for h in self.hidden_sizes),
            f"hidden_sizes must be non-empty and positive, got {self.hidden_sizes}",
        )
        _require(self.bias_transform_dim >= 0, "bias_transform_dim must be >= 0")
        _require(
            self.temporal_channels > 0 and self.temporal_kernel > 0 and self.temporal_out > 0,
            "temporal_channels, temporal_kernel and temporal_out must be positive",
        )
        _require(self.temporal_loss_scale > 0, "temporal_loss_scale must be positive")
        _require(
            len(self.state_mean) == 4 and len(self.state_std) == 4,
            f"state_mean/state_std need 4 values, got {self.state_mean} / {self.state_std}",
        )
        _require(all(s > 0 for s in self.state_std), f"state_std must be > 0: {self.state_std}")


@dataclass
class MetaConfig:
    """The bi-level algorithm: inner adaptation from the human video, outer behaviour cloning.

    Baselines share the code: inner_source="robot_demo" adapts with the BC loss of the robot
    demo (MIL-style oracle, actions available); inner_steps=0 is plain behaviour cloning.
    """

    inner_steps: int = 1  # K inner gradient steps (sim: 1, real: 5); 0: plain BC, no adaptation
    inner_source: str = "human_video"  # "human_video": learned temporal loss on the human video
    # (DAML); "robot_demo": BC loss on the robot demo with its actions (MIL oracle baseline)
    inner_lr: float = 0.01  # alpha's initial value
    learn_inner_lr: bool = True  # learn one alpha per parameter tensor (Meta-SGD style)
    inner_grad_clip: float = 10.0  # inner gradients clipped elementwise to +-this
    second_order: bool = True  # False: first-order, only theta learns (psi and alpha get no grad)
    aux_loss_weight: float = 0.1  # weight of the aux head's position loss
    aux_target: str = "final"  # what the aux head predicts from every frame: "final": the
    # demo's last end-effector position; "grasp": its position where the actions start closing
    # the gripper for the last time (where pick_place grasps the target, after a missed grasp
    # the second try; the last position if it never closes; push closes at the start, so it is
    # the start there)
    gripper_loss_weight: float = 1.0  # weight of the gripper BCE in the behaviour-cloning loss
    human_video_color: str = "rgb"  # "gray": the inner step sees the human video as luminance
    # only (train and test alike), so the demonstrator's colour cannot matter; robot frames stay RGB

    def __post_init__(self) -> None:
        _require(self.inner_steps >= 0, f"inner_steps must be >= 0, got {self.inner_steps}")
        _require(
            self.inner_source in INNER_SOURCES,
            f"meta.inner_source must be one of {INNER_SOURCES}, got {self.inner_source!r}",
        )
        _require(self.inner_lr > 0, f"inner_lr must be positive, got {self.inner_lr}")
        _require(
            self.human_video_color in HUMAN_VIDEO_COLORS,
            f"meta.human_video_color must be one of {HUMAN_VIDEO_COLORS}, "
            f"got {self.human_video_color!r}",
        )
        _require(self.inner_grad_clip > 0, "inner_grad_clip must be positive")
        _require(self.aux_loss_weight >= 0, "aux_loss_weight must be >= 0")
        _require(
            self.aux_target in AUX_TARGETS,
            f"meta.aux_target must be one of {AUX_TARGETS}, got {self.aux_target!r}",
        )
        _require(self.gripper_loss_weight >= 0, "gripper_loss_weight must be >= 0")


@dataclass
class TrainConfig:
    """The meta-training loop."""

    steps: int = 3000  # total meta-steps (outer Adam updates)
    meta_batch: int = 8  # task variations per meta-step
    outer_lr: float = 1e-3  # Adam learning rate on theta, psi and alpha
    seed: int = 0  # seeds parameter init and the batch order
    log_every: int = 10  # write mean training metrics every N steps
    val_every: int = 250  # validate (pre/post-adaptation BC loss) every N steps
    val_tasks: int = 32  # held-out variations used per validation (the first N of --val-data)
    checkpoint_every: int = 500  # write step_NNNNNN.pt and last.pt every N steps
    batching: str = "vmap"  # "vmap": one batched computation; "loop": per-task loop (same
    # math; ~2x faster on a small CPU, see benchmarks/meta_throughput.py)
    lr_schedule: str = "constant"  # "constant", or "cosine": outer_lr decays to
    # final_lr_fraction * outer_lr at train.steps (half a cosine period)
    final_lr_fraction: float = 0.01
    lr_decay_start: int = 0  # with "cosine": outer_lr stays constant up to this step and the
    # half cosine spans [lr_decay_start, steps]; lets `--resume` anneal a constant-lr run
    init_checkpoint: str = ""  # start from this meta checkpoint's params (fresh Adam, step 0)
    human_hue_jitter: float = 0.0  # rotate each training human video's hue by an angle uniform
    # in +-(this * 180 degrees), luminance kept (daml/augment.py); 0: off, 1: the full circle
    hue_jitter_robot: bool = False  # turn the task's robot frames by the same angle too, so the
    # human video and the robot scene keep matching colours (the whole task is recoloured)
    avatar_hue_jitter: float = 0.0  # like human_hue_jitter, but only the demonstrator's pixels
    # turn (the dataset's avatar masks); the objects keep their colours in the video
    human_takes: str = "random"  # episodes with several human videos (`daml collect
    # --human-takes`): "random" adapts on one drawn per step, "first" always on the first
    init_hidden_sizes: tuple[int, ...] = ()  # with init_checkpoint: grow its policy MLP to these
    # widths, keeping what it computes (daml/grow.py); (): the checkpoint's own sizes
    init_conv_channels: tuple[int, ...] = ()  # with init_checkpoint: widen its encoder's conv
    # layers to these widths (whole multiples: each channel copied, daml/widen_encoder.py), keeping
    # what it computes before the inner step; (): the checkpoint's own widths
    init_image_px: int = 0  # with init_checkpoint: run its model on images of this side (the
    # encoder ends in a spatial softmax, so its weights fit any size; a finer camera changes what
    # the filters see, so this is a fine-tune, not a copy); 0: the checkpoint's own image_px
    init_conv_strides: tuple[int, ...] = ()  # with init_checkpoint: run its encoder with these
    # strides (same layers, same weights; e.g. (2, 1, 1) for a 2x finer spatial-softmax map, a
    # fine-tune like init_image_px); (): the checkpoint's own strides
    init_conv_dilations: tuple[int, ...] = ()  # with init_checkpoint: its encoder's dilations;
    # with init_conv_strides (2, 1, 1) on a (2, 2, 1) checkpoint, (1, 1, 2) makes the finer map's
    # even cells the old map's cells ("a trous"), so the fine-tune starts near the checkpoint's
    # function instead of from a scrambled one; (): the checkpoint's own dilations

    def __post_init__(self) -> None:
        for name in ("steps", "meta_batch", "log_every", "val_every", "val_tasks"):
            _require(getattr(self, name) >= 1, f"train.{name} must be >= 1")
        _require(
            0 <= self.seed <= MAX_SEED, f"train.seed must be in [0, {MAX_SEED}], got {self.seed}"
        )
        _require(self.checkpoint_every >= 1, "train.checkpoint_every must be >= 1")
        _require(self.outer_lr > 0, f"train.outer_lr must be positive, got {self.outer_lr}")
        _require(
            self.batching in ("vmap", "loop"),
            f"train.batching must be 'vmap' or 'loop', got {self.batching!r}",
        )
        _require(
            self.lr_schedule in ("constant", "cosine"),
            f"train.lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}",
        )
        _require(
            0 <= self.final_lr_fraction <= 1,
            f"train.final_lr_fraction must be in [0, 1], got {self.final_lr_fraction}",
        )
        _require(
            0 <= self.lr_decay_start < self.steps,
            f"train.lr_decay_start must be in [0, train.steps={self.steps}), "
            f"got {self.lr_decay_start}",
        )
        _require(
            0 <= self.human_hue_jitter <= 1,
            f"train.human_hue_jitter must be in [0, 1], got {self.human_hue_jitter}",
        )
        _require(
            self.human_hue_jitter > 0 or not self.hue_jitter_robot,
            "train.hue_jitter_robot needs train.human_hue_jitter > 0",
        )
        _require(
            0 <= self.avatar_hue_jitter <= 1,
            f"train.avatar_hue_jitter must be in [0, 1], got {self.avatar_hue_jitter}",
        )
        _require(
            self.avatar_hue_jitter == 0 or self.human_hue_jitter == 0,
            "train.avatar_hue_jitter and train.human_hue_jitter both recolour the human video; "
            "set at most one",
        )
        _require(
            self.human_takes in HUMAN_TAKES,
            f"train.human_takes must be one of {', '.join(HUMAN_TAKES)}, got {self.human_takes!r}",
        )
        self.init_hidden_sizes = _ints("train.init_hidden_sizes", self.init_hidden_sizes)
        _require(
            all(h > 0 for h in self.init_hidden_sizes),
            f"train.init_hidden_sizes must be positive, got {list(self.init_hidden_sizes)}",
        )
        self.init_conv_channels = _ints("train.init_conv_channels", self.init_conv_channels)
        _require(
            all(c > 0 for c in self.init_conv_channels),
            f"train.init_conv_channels must be positive, got {list(self.init_conv_channels)}",
        )
        _require(
            self.init_image_px == 0 or self.init_image_px >= 8,
            f"train.init_image_px must be 0 (the checkpoint's) or >= 8, got {self.init_image_px}",
        )
        self.init_conv_strides = _ints("train.init_conv_strides", self.init_conv_strides)
        _require(
            all(s in (1, 2) for s in self.init_conv_strides),
            f"train.init_conv_strides must be 1 or 2 each, got {list(self.init_conv_strides)}",
        )
        self.init_conv_dilations = _ints("train.init_conv_dilations", self.init_conv_dilations)
        _require(
            all(d >= 1 for d in self.init_conv_dilations),
            f"train.init_conv_dilations must be >= 1 each, got {list(self.init_conv_dilations)}",
        )

    def outer_lr_at(self, step: int) -> float:
        """The Adam learning rate of the update that takes the run from `step` to `step + 1`."""
        if self.lr_schedule == "constant":
            return self.outer_lr
        progress = min(max(step - self.lr_decay_start, 0) / (self.steps - self.lr_decay_start), 1.0)
        fraction = self.final_lr_fraction + (1 - self.final_lr_fraction) * 0.5 * (
            1 + math.cos(math.pi * progress)
        )
        return self.outer_lr * fraction


@dataclass
class RunConfig:
    """Everything a run needs; saved as `config.json` in the run dir and inside checkpoints."""

    model: ModelConfig = field(default_factory=ModelConfig)
    meta: MetaConfig = field(default_factory=MetaConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        """Build from a (possibly partial) dict; unknown keys raise ConfigError."""
        if not isinstance(raw, dict):
            raise ConfigError(f"a run config must be a JSON object, got {type(raw).__name__}")
        sections = {"model": ModelConfig, "meta": MetaConfig, "train": TrainConfig}
        unknown = sorted(set(raw) - set(sections))
        _require(not unknown, f"unknown config sections {unknown}; expected {sorted(sections)}")
        built = {}
        for name, section_cls in sections.items():
            values = raw.get(name, {})
            _require(isinstance(values, dict), f"config section {name!r} must be a JSON object")
            known = {f.name for f in fields(section_cls)}
            bad = sorted(set(values) - known)
            _require(not bad, f"unknown {name} config keys {bad}; known: {sorted(known)}")
            check_types(name, section_cls, values)
            try:
                built[name] = section_cls(**values)
            except ConfigError:
                raise
            except (TypeError, ValueError) as error:  # e.g. int("x") in a section's checks
                raise ConfigError(f"bad {name} config: {error}") from error
        return cls(**built)

    @classmethod
    def from_json(cls, text: str, source: str = "config") -> RunConfig:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{source} is not valid JSON: {error}") from error
        return cls.from_dict(raw)

    def with_overrides(self, assignments: list[str]) -> RunConfig:
        """This config with `SECTION.KEY=VALUE` assignments applied (`daml train --set`).

        VALUE is read as the field's type: an integer, a number, true/false, a list as JSON
        (`[32, 32, 32]`) or comma-separated (`32,32,32`; empty for `()`), or text as written.
        The result is validated like a config file; any bad assignment raises ConfigError.
        """
        raw = self.to_dict()
        for assignment in assignments:
            name, sep, text = assignment.partition("=")
            section, dot, key = name.strip().partition(".")
            _require(
                bool(sep and dot and section and key),
                f"--set expects SECTION.KEY=VALUE (e.g. train.val_every=500), got {assignment!r}",
            )
            _require(section in raw, f"--set {name}: unknown section; expected {sorted(raw)}")
            _require(
                key in raw[section], f"--set {name}: unknown key; known: {sorted(raw[section])}"
            )
            raw[section][key] = parse_like(raw[section][key], text.strip(), f"--set {name}")
        return RunConfig.from_dict(raw)

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return cls.from_json(path.read_text(), source=str(path))
