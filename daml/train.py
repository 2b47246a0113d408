"""The meta-training loop: dataset -> meta-batches -> DAML outer updates -> metrics and checkpoints.

Reads top to bottom (CleanRL style). Must not import sim or cv2.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from daml.augment import hue_angles, rotate_hue
from daml.checkpoint import Checkpoint, check_task, load_checkpoint, save_checkpoint
from daml.config import RunConfig, TrainConfig
from daml.data import DemoDataset
from daml.dataset_union import DatasetUnion, open_training_data
from daml.errors import ConfigError, DataError
from daml.graceful_stop import Stopped, stop_after_the_step
from daml.meta import (
    FIRST_ORDER_WARNING,
    Learner,
    meta_loss,
    meta_loss_per_task,
    trainable_params,
    validation_losses,
)
from daml.meta_batch import MetaBatch, MetaBatchLoader
from daml.output_path import check_output_folder, make_folder, write_bytes_atomic
from daml.preload import PreloadedEpisodes
from daml.torch_setup import resolve_device
from daml.train_log import MetricsLog, TrainWindow, plot_learning_curve
from daml.warm_start import check_init_options, warm_start

CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.jsonl"
CURVE_NAME = "learning_curve.png"
LAST_NAME = "last.pt"
BEST_NAME = "best.pt"
# TrainConfig fields a --resume may change (the rest must match the run's saved config)
RESUME_MAY_CHANGE = (
    "steps",
    "lr_schedule",
    "final_lr_fraction",
    "lr_decay_start",
    "log_every",  # the intervals set when the run writes, not what it computes
    "val_every",
    "checkpoint_every",
)
STATE_STATS_EPISODES = 64  # episodes read to standardise the robot state
MIN_STATE_STD = 1e-2  # floor for near-constant state dims (e.g. a fixed height)


@dataclass
class TrainResult:
    """Where a finished run left things."""

    run_dir: Path
    step: int
    last_checkpoint: Path
    best_checkpoint: Path | None
    last_val: dict[str, float] | None


def load_run_config(run_dir: str | Path) -> RunConfig:
    """The config saved in a run dir (what `--resume` continues with)."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise DataError(f"{run_dir} has no {CONFIG_NAME}; it is not a daml run dir")
    return RunConfig.load(path)


def fit_to_dataset(config: RunConfig, dataset: DemoDataset | DatasetUnion) -> RunConfig:
    """Take image size, T and robot-state statistics from the training data.

    The state statistics read STATE_STATS_EPISODES episodes spread evenly over the whole
    dataset, so every part of a DatasetUnion counts, not just the first directory."""
    states = np.concatenate([dataset[i].robot_states for i in state_stats_indices(len(dataset))])
    state_mean, state_std = state_statistics(states)
    model = replace(
        config.model,
        image_px=dataset.manifest.image_px,
        episode_steps=dataset.manifest.episode_steps,
        state_mean=state_mean,
        state_std=state_std,
    )
    return replace(config, model=model)


def state_stats_indices(n_episodes: int) -> list[int]:
    """Up to STATE_STATS_EPISODES distinct episode indices spread evenly over range(n)."""
    count = min(n_episodes, STATE_STATS_EPISODES)
    return sorted({int(round(v)) for v in np.linspace(0, n_episodes - 1, count)})


def state_statistics(states: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-dimension mean and std of robot states (N, 4), the std floored at MIN_STATE_STD:
    the normaliser a model config stores (ModelConfig.state_mean / state_std)."""
    mean = tuple(float(v) for v in states.mean(axis=0))
    std = tuple(max(float(v), MIN_STATE_STD) for v in states.std(axis=0))
    return mean, std


@dataclass
class RunState:
    """What a run carries from step to step (and what last.pt restores)."""

    config: RunConfig
    learner: Learner
    optimizer: torch.optim.Optimizer
    step: int
    best_val: float  # best validation post-adaptation BC loss (inf: none yet)
    task: str  # the training data's task, recorded in every checkpoint (info["task"])


def train(
    config: RunConfig,
    data_dir: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    val_dir: str | Path | None = None,
    resume: bool = False,
    device: str = "auto",
    progress: bool = True,
    preload: bool = False,
) -> TrainResult:
    """Meta-train until config.train.steps; resume continues last.pt's step, optimizer and batches.

    With `resume`, `config` must equal the run's saved config except for train.steps, the
    lr schedule (a constant-lr run can be annealed from where it is) and the log, validation
    and checkpoint intervals (RESUME_MAY_CHANGE). Batches (and their hue rotations) depend only
    on (seed, step) and nothing else draws random numbers, so 2 + 2 resumed steps give the same
    params as 4 straight ones (with lr_schedule "cosine", only if train.steps and the schedule
    fields are unchanged), also after a Ctrl-C or SIGTERM (last.pt is saved after the step).
    Without `resume`, train.init_checkpoint (if set) seeds the params instead of a random
    init, and that start (grown or widened as train.init_* say) is saved as step_000000.pt.
    Several `data_dir`s train as one set (DatasetUnion: one task, one frame format).
    `preload` decodes every training episode into memory before the first step (daml/preload.py;
    the same batches, without a disk read per step: for GPU runs).
    """
    run_dir, torch_device = check_output_folder(out_dir), resolve_device(device)
    dataset = open_training_data(data_dir)
    # 1. params and optimizer: fresh, or restored from last.pt
    run = _start_run(config, dataset, run_dir, resume, torch_device)
    config = run.config
    # 2. validation batches: the first val_tasks held-out variations, fixed for the whole run
    # (this, the preload and the checks above come before anything is written, so that a bad
    # --val-data or a set too large to hold leaves no half-made run dir and a resumed run's
    # config.json as it was)
    val_batches = _val_batches(val_dir, run, torch_device) if val_dir else []
    episodes = PreloadedEpisodes(dataset, progress=progress) if preload else dataset
    make_folder(run_dir)
    write_bytes_atomic(run_dir / CONFIG_NAME, config.to_json().encode())
    metrics = MetricsLog(run_dir / METRICS_NAME, keep_until_step=run.step if resume else -1)
    if not config.meta.second_order and config.meta.inner_steps > 0:
        tqdm.write(f"warning: {FIRST_ORDER_WARNING}")
    if not resume and config.train.init_checkpoint:  # the start, as grown/widened: to blend into
        _save(run_dir / f"step_{0:06d}.pt", run)

    last_val = None
    if val_batches and run.step == 0:
        last_val = metrics.append(0, "val", _validate(run.learner, val_batches))

    # 3. the loop: sample tasks, adapt on each human video, BC on its robot demo, Adam
    loader = MetaBatchLoader(
        episodes,
        config.train.meta_batch,
        config.train.seed,
        run.step,
        human_takes=config.train.human_takes,
    )
    batches = iter(loader)
    window = TrainWindow(config.train.meta_batch)
    bar = tqdm(total=config.train.steps, initial=run.step, desc="meta-train", disable=not progress)
    with stop_after_the_step(f"saving {run_dir / LAST_NAME} and stopping") as stop:
        try:
            while run.step < config.train.steps:
                batch = augment_batch(next(batches).to(torch_device), run.step, config.train)
                window.add(_meta_step(run, batch))
                run.step += 1
                bar.update(1)
                if _due(run, config.train.log_every):
                    record = metrics.append(run.step, "train", window.flush())
                    bar.set_postfix(loss=f"{record['total']:.4f}")
                if val_batches and _due(run, config.train.val_every):
                    last_val = metrics.append(run.step, "val", _validate(run.learner, val_batches))
                    if last_val["post_bc"] < run.best_val:
                        run.best_val = last_val["post_bc"]
                        _save(run_dir / BEST_NAME, run)
                    plot_learning_curve(metrics.records(), run_dir / CURVE_NAME)
                _save_checkpoints(run, run_dir, stop.signum)
        finally:
            batches.close()
            bar.close()
    plot_learning_curve(metrics.records(), run_dir / CURVE_NAME)
    best = run_dir / BEST_NAME
    return TrainResult(
        run_dir, run.step, run_dir / LAST_NAME, best if best.exists() else None, last_val
    )


def _start_run(
    config: RunConfig,
    dataset: DemoDataset | DatasetUnion,
    run_dir: Path,
    resume: bool,
    device: torch.device,
) -> RunState:
    if resume:
        checkpoint = load_checkpoint(run_dir / LAST_NAME, kind="meta")
        _check_resume_config(checkpoint.config, config)
        check_task(
            checkpoint, dataset.manifest.task, str(run_dir),
            f"resume it on that task's data, or fine-tune it on {dataset.manifest.task} in a "
            "new run (train.init_checkpoint, another --out)",
        )  # fmt: skip
        if config.train.steps < checkpoint.step:  # (it would train nothing and save steps < step)
            raise ConfigError(
                f"{run_dir} is already at step {checkpoint.step}; --steps (train.steps) "
                f"{config.train.steps} is below it: give --steps {checkpoint.step} or more"
            )
        config = replace(checkpoint.config, train=config.train)
        learner = Learner(config.model, config.meta, checkpoint.params).to(device)
    else:
        if (run_dir / LAST_NAME).exists():
            raise ConfigError(
                f"{run_dir} already holds a run ({LAST_NAME}); pass --resume to continue it "
                "or choose another --out"
            )
        checkpoint = None
        check_init_options(config.train)
        if config.train.init_checkpoint:
            learner, config = warm_start(config, device)
        else:
            config = fit_to_dataset(config, dataset)
            learner = Learner.create(config.model, config.meta, config.train.seed).to(device)
    _check_dataset(dataset, config, "training data", can_warm_start=not resume)
    if config.train.avatar_hue_jitter > 0 and not dataset.manifest.human_masks:
        raise DataError(
            f"train.avatar_hue_jitter needs avatar masks, which {dataset.root} does not record "
            "(collected by an older daml); re-collect it into a new --out"
        )
    if config.train.meta_batch > len(dataset):
        raise ConfigError(
            f"train.meta_batch {config.train.meta_batch} exceeds the {len(dataset)} episodes "
            f"in {dataset.root}; lower it or collect more variations"
        )
    optimizer = torch.optim.Adam(
        trainable_params(learner.params, config.meta), lr=config.train.outer_lr
    )
    if checkpoint is None:
        return RunState(config, learner, optimizer, 0, math.inf, dataset.manifest.task)
    optimizer.load_state_dict(checkpoint.optimizer_state)
    best_val = math.inf if checkpoint.best_val is None else checkpoint.best_val
    return RunState(config, learner, optimizer, checkpoint.step, best_val, dataset.manifest.task)


def augment_batch(batch: MetaBatch, step: int, train_config: TrainConfig) -> MetaBatch:
    """The batch at `step` with its human videos' hues rotated (train.human_hue_jitter > 0),
    and each robot demo's by its task's angle too when train.hue_jitter_robot is set; or only
    the avatar's pixels in each human video (train.avatar_hue_jitter > 0)."""
    if train_config.avatar_hue_jitter > 0:
        if batch.human_masks is None:
            raise DataError(
                "train.avatar_hue_jitter needs the avatar masks, and this batch has none; "
                "re-collect the training data with this daml"
            )
        angles = hue_angles(train_config.seed, step, len(batch), train_config.avatar_hue_jitter)
        return replace(
            batch, human_frames=rotate_hue(batch.human_frames, angles, batch.human_masks)
        )
    if train_config.human_hue_jitter == 0:
        return batch
    angles = hue_angles(train_config.seed, step, len(batch), train_config.human_hue_jitter)
    batch = replace(batch, human_frames=rotate_hue(batch.human_frames, angles))
    if train_config.hue_jitter_robot:
        batch = replace(batch, robot_frames=rotate_hue(batch.robot_frames, angles))
    return batch


def _meta_step(run: RunState, batch: MetaBatch) -> dict[str, float]:
    """One outer Adam update on a meta-batch (at train.outer_lr_at(step)); its float metrics."""
    learner = run.learner
    lr = run.config.train.outer_lr_at(run.step)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    loss_fn = meta_loss if run.config.train.batching == "vmap" else meta_loss_per_task
    loss, step_metrics = loss_fn(learner.model, learner.params, batch, learner.meta_config)
    if not torch.isfinite(loss):
        raise ConfigError(
            f"outer loss became {loss.item()} at step {run.step}; lower train.outer_lr "
            "or meta.inner_lr"
        )
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    return {**step_metrics, "lr": lr}


def _due(run: RunState, every: int) -> bool:
    return run.step % every == 0 or run.step == run.config.train.steps


def _check_resume_config(saved: RunConfig, given: RunConfig) -> None:
    def comparable(config: RunConfig) -> dict:
        raw = config.to_dict()
        for name in RESUME_MAY_CHANGE:
            raw["train"].pop(name)
        raw.pop("model")  # fitted to the dataset at the start of the run
        return raw

    if comparable(saved) != comparable(given):
        raise ConfigError(
            "the given config differs from the run's saved config; --resume continues with "
            "the saved one (only train.steps, the outer-lr schedule and the intervals may change: "
            + ", ".join(RESUME_MAY_CHANGE)
            + ")"
        )


def _check_dataset(
    dataset: DemoDataset | DatasetUnion, config: RunConfig, what: str, can_warm_start: bool = False
) -> None:
    """Refuse data collected at another image size or episode length than the model's.

    can_warm_start: a fresh --init run, whose model may still take another image size; a
    resumed run's model is fixed, so no init_image_px hint is given then.
    """
    manifest = dataset.manifest
    got = (manifest.image_px, manifest.episode_steps)
    if got != (config.model.image_px, config.model.episode_steps):
        hint = ""
        if can_warm_start and got[1] == config.model.episode_steps and config.train.init_checkpoint:
            hint = f"; set train.init_image_px to {got[0]} to fine-tune the --init model on it"
        raise DataError(
            f"{what} {dataset.root} has image_px={got[0]}, episode_steps={got[1]}; the model "
            f"expects image_px={config.model.image_px}, episode_steps={config.model.episode_steps}"
            + hint
        )


def _val_batches(val_dir: str | Path, run: RunState, device: torch.device) -> list[MetaBatch]:
    config, dataset = run.config, DemoDataset(val_dir)
    if dataset.manifest.task != run.task:
        raise DataError(
            f"validation data {val_dir} holds {dataset.manifest.task} episodes; the training "
            f"data is {run.task}"
        )
    _check_dataset(dataset, config, "validation data")
    count = min(config.train.val_tasks, len(dataset))
    size = config.train.meta_batch
    return [
        MetaBatch.from_episodes([dataset[i] for i in range(start, min(start + size, count))]).to(
            device
        )
        for start in range(0, count, size)
    ]


def _validate(learner: Learner, batches: list[MetaBatch]) -> dict[str, float]:
    """Task-weighted mean of validation_losses over the fixed validation batches."""
    totals: dict[str, float] = defaultdict(float)
    count = 0
    for batch in batches:
        for key, value in validation_losses(
            learner.model, learner.params, batch, learner.meta_config
        ).items():
            totals[key] += value * len(batch)
        count += len(batch)
    return {key: value / count for key, value in totals.items()}


def _save_checkpoints(run: RunState, run_dir: Path, stop_signum: int) -> None:
    """step_NNNNNN.pt and last.pt when due; after a stop signal (not at the last step), last.pt
    and Stopped (the CLI exits 128 + signum; --resume continues exactly from here)."""
    every = run.config.train.checkpoint_every
    stopping = stop_signum != 0 and run.step < run.config.train.steps
    if run.step % every == 0:
        _save(run_dir / f"step_{run.step:06d}.pt", run)
    if _due(run, every) or stopping:
        _save(run_dir / LAST_NAME, run)
    if stopping:
        tqdm.write(f"stopped at step {run.step}; saved {run_dir / LAST_NAME}")
        raise Stopped(stop_signum)


def _save(path: Path, run: RunState) -> None:
    best = None if math.isinf(run.best_val) else run.best_val
    state = run.optimizer.state_dict()
    info = {"task": run.task}
    save_checkpoint(
        path, Checkpoint("meta", run.config, run.learner.params, run.step, state, best, info)
    )
