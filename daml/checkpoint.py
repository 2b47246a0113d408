"""The only module that reads and writes weights: meta-trained checkpoints and adapted policies.

A checkpoint is one torch.save'd dict of plain types and tensors (format header, config JSON,
params, optimizer state), written atomically and read with torch.load(weights_only=True).
Must not import sim or cv2.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from daml import __version__
from daml.config import RunConfig
from daml.errors import ConfigError, DataError
from daml.meta import THETA_PREFIXES, param_shapes
from daml.output_path import write_bytes_atomic
from daml.torch_setup import resolve_device

FORMAT_NAME = "daml-checkpoint"
FORMAT_VERSION = 1
KINDS = ("meta", "adapted")  # meta: theta + psi + alpha (+ optimizer); adapted: phi only
DEFAULT_BLEND_WEIGHT = 0.5  # `daml export --blend` without --blend-weight: the midpoint

# What a damaged or foreign file makes torch.load raise (measured: truncated zip ->
# RuntimeError, random bytes -> KeyError, empty -> EOFError, disallowed pickle -> UnpicklingError).
_LOAD_ERRORS = (
    RuntimeError,
    pickle.UnpicklingError,
    EOFError,
    KeyError,
    ValueError,
    OSError,
    zipfile.BadZipFile,
    UnicodeDecodeError,
    AttributeError,
    IndexError,
    TypeError,
)


@dataclass
class Checkpoint:
    """What a checkpoint file holds.

    Attributes:
        kind: "meta" (meta-trained learner) or "adapted" (adapted policy params phi).
        config: the run config (model + meta + train sections).
        params: name -> tensor; meta: theta, psi, alpha; adapted: adapted theta.
        step: meta-training steps done.
        optimizer_state: Adam state_dict (meta checkpoints written during training).
        best_val: best validation post-adaptation BC loss so far (None if not validated).
        info: small JSON-able extras (e.g. where an adapted policy came from; "task": the task
            whose episodes it was meta-trained on, see checkpoint_task).
        sha256: hex SHA-256 of the file's bytes these fields were read from ("" if not read
            from a file); reports name the exact weights by it.
    """

    kind: str
    config: RunConfig
    params: dict[str, Tensor]
    step: int = 0
    optimizer_state: dict[str, Any] | None = None
    best_val: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""


def save_checkpoint(path: str | Path, checkpoint: Checkpoint) -> str:
    """Write `checkpoint` to `path` atomically (temp file in the same dir + os.replace).

    Returns the hex SHA-256 of the bytes written (what load_checkpoint reports as sha256).
    """
    if checkpoint.kind not in KINDS:
        raise ConfigError(f"checkpoint kind must be one of {KINDS}, got {checkpoint.kind!r}")
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "daml_version": __version__,
        "kind": checkpoint.kind,
        "config": checkpoint.config.to_json(),
        "params": {k: v.detach().cpu().clone() for k, v in checkpoint.params.items()},
        "step": int(checkpoint.step),
        "optimizer": checkpoint.optimizer_state,
        "best_val": checkpoint.best_val,
        "info": dict(checkpoint.info),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    write_bytes_atomic(Path(path), data)
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes: names the exact weights a report was made with, which a
    path does not (a new model may be copied over the same path)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_checkpoint(
    path: str | Path, kind: str | None = None, map_location: str | torch.device = "cpu"
) -> Checkpoint:
    """Read and check a checkpoint; DataError names the file and the fix if it is unusable.

    Args:
        path: file written by save_checkpoint.
        kind: if given, the file must be of this kind ("meta" or "adapted").
        map_location: device the tensors are loaded onto ("auto", "cpu", "cuda", or a
            torch.device); ConfigError if it asks for a GPU this machine lacks.
    """
    path = Path(path)
    map_location = resolve_device(map_location)
    if path.is_dir():
        raise DataError(f"checkpoint {path} is a folder; pass a file in it (e.g. best.pt)")
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist")
    try:
        data = path.read_bytes()  # read once: the digest is of the very bytes loaded
    except OSError as error:
        raise DataError(f"cannot read checkpoint {path}: {error.strerror or error}") from None
    try:
        payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except _LOAD_ERRORS as error:
        raise DataError(
            f"checkpoint {path} is corrupt, truncated or not a daml checkpoint "
            f"({type(error).__name__}); use a file written by `daml train` or `daml adapt`"
        ) from error
    _check_header(path, payload, kind)
    try:
        config = RunConfig.from_json(payload["config"], source=f"config in {path}")
    except ConfigError as error:
        raise DataError(f"checkpoint {path} holds an invalid config: {error}") from error
    params = payload.get("params")
    if not isinstance(params, dict) or not all(isinstance(v, Tensor) for v in params.values()):
        raise DataError(f"checkpoint {path} has no parameter tensors; it is damaged")
    _check_param_shapes(path, payload["kind"], config, params)
    broken = sorted(name for name, value in params.items() if not torch.isfinite(value).all())
    if broken:
        raise DataError(f"checkpoint {path} has NaN or infinite weights ({broken[0]}, ...)")
    return Checkpoint(
        kind=payload["kind"],
        config=config,
        params=params,
        step=int(payload.get("step", 0)),
        optimizer_state=payload.get("optimizer"),
        best_val=payload.get("best_val"),
        info=dict(payload.get("info") or {}),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def checkpoint_task(checkpoint: Checkpoint) -> str | None:
    """The task `checkpoint` was meta-trained on: info["task"] (written by `daml train` and kept
    by export and adapt), else the shipped model's by file digest; None if unknown (a file
    written before checkpoints recorded it)."""
    from daml.shipped import SHIPPED_TASKS

    task = checkpoint.info.get("task")
    return task if isinstance(task, str) else SHIPPED_TASKS.get(checkpoint.sha256)


def check_task(checkpoint: Checkpoint, task: str, source: str, fix: str = "") -> None:
    """ConfigError if `checkpoint` (read from `source`) was meta-trained on another task than
    `task`: its policy would run, and fail, without a word (a checkpoint of unknown task passes).
    `fix` ends the message (default: pass --task <its task> or a <task> checkpoint)."""
    trained_on = checkpoint_task(checkpoint)
    if trained_on is not None and trained_on != task:
        fix = fix or f"pass --task {trained_on} or a {task} checkpoint"
        raise ConfigError(f"{source} was meta-trained on {trained_on}, not {task}; {fix}")


def export_checkpoint(
    source: str | Path,
    out: str | Path,
    blends: Sequence[str | Path] = (),
    blend_weight: float = DEFAULT_BLEND_WEIGHT,
) -> Checkpoint:
    """Write `source`'s weights to `out` without training-only state (the Adam moments, about
    twice the weights' size): what a model is shipped or shared as.

    The config, params, step and best_val are kept; `info["exported_from"]` records the source's
    file name, SHA-256 and step, and `info["task"]` its task where known (checkpoint_task).
    `out` may be `source` itself (the file is read whole first and replaced atomically).
    Returns the checkpoint as written, with its file's sha256.

    With `blends`, every param is (1 - blend_weight) * source + blend_weight * blend's (weight
    interpolation, as in WiSE-FT: e.g. a model and its own fine-tune); both must be the same
    kind of checkpoint of the same model (model config) and task. With several checkpoints in
    `blends`, their uniform average takes the blend's place (a weight average along a
    fine-tune's trajectory, as in SWA). The blend is recorded in `info["blended_with"]` (file,
    SHA-256, step, weight; with several files, `files` lists each one's); best_val is dropped,
    since no training run validated the blended weights.
    """
    if isinstance(blends, (str, os.PathLike)):  # would be read as one file per character
        raise TypeError(f"blends must be a sequence of paths, got one path {str(blends)!r}")
    checkpoint = load_checkpoint(source)
    provenance = {"file": Path(source).name, "sha256": checkpoint.sha256, "step": checkpoint.step}
    info = {**checkpoint.info, "exported_from": checkpoint.info.get("exported_from", provenance)}
    task = checkpoint_task(checkpoint)  # (a shipped model's is known by its digest, reset here)
    if task is not None:
        info["task"] = task
    exported = dataclasses.replace(checkpoint, optimizer_state=None, info=info, sha256="")
    if blends:
        exported = _blended(exported, source, blends, blend_weight)
    return dataclasses.replace(exported, sha256=save_checkpoint(out, exported))


def _blended(
    checkpoint: Checkpoint, source: str | Path, blends: Sequence[str | Path], weight: float
) -> Checkpoint:
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"blend weight must be in [0, 1], got {weight}")
    # One blend file in memory at a time (a training checkpoint carries its Adam state, twice
    # the weights): a running sum, added in the order given. Same kind + same model config =
    # the same param names and shapes: load_checkpoint has checked each file's params against
    # its config (_check_param_shapes).
    sums: dict[str, Tensor] = {}
    records = []
    for blend in blends:
        other = _same_model(checkpoint, source, blend)
        for name, value in other.params.items():
            sums[name] = value if name not in sums else sums[name] + value
        records.append({"file": Path(blend).name, "sha256": other.sha256, "step": other.step})
        del other
    params = {
        name: ((1.0 - weight) * value + weight * (sums[name] / len(blends))).to(value.dtype)
        for name, value in checkpoint.params.items()
    }
    record = records[0] if len(records) == 1 else {"files": records}
    return dataclasses.replace(
        checkpoint,
        params=params,
        best_val=None,
        info={**checkpoint.info, "blended_with": {**record, "weight": weight}},
    )


def _same_model(checkpoint: Checkpoint, source: str | Path, blend: str | Path) -> Checkpoint:
    """`blend` loaded, if it is the same kind of checkpoint of the same model as `checkpoint`."""
    other = load_checkpoint(blend, kind=checkpoint.kind)
    tasks = checkpoint_task(checkpoint), checkpoint_task(other)
    if None not in tasks and tasks[0] != tasks[1]:
        raise ConfigError(
            f"cannot blend {source} ({tasks[0]}) with {blend} ({tasks[1]}): they were "
            "meta-trained on different tasks"
        )
    if other.config.model != checkpoint.config.model:
        differ = [
            name
            for name, value in dataclasses.asdict(checkpoint.config.model).items()
            if getattr(other.config.model, name) != value
        ]
        raise ConfigError(
            f"cannot blend {source} with {blend}: different models (model config differs in "
            f"{', '.join(differ)})"
        )
    return other


def _check_header(path: Path, payload: Any, kind: str | None) -> None:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        raise DataError(
            f"{path} is not a daml checkpoint (no {FORMAT_NAME!r} header); "
            "use a file written by `daml train` or `daml adapt`"
        )
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise DataError(
            f"checkpoint {path} has format version {version}, this daml reads version "
            f"{FORMAT_VERSION}; re-train it or use the daml version that wrote it"
        )
    if payload.get("kind") not in KINDS:
        raise DataError(f"checkpoint {path} has unknown kind {payload.get('kind')!r}")
    fields = {"config": str, "step": int, "info": (dict, type(None))}
    wrong = [name for name, kinds in fields.items() if not isinstance(payload.get(name), kinds)]
    if wrong:
        raise DataError(
            f"checkpoint {path} has a damaged header ({', '.join(wrong)}); re-export it"
        )
    if kind is not None:
        check_kind(payload["kind"], kind, str(path))


def check_kind(found: str, kind: str, source: str) -> None:
    """DataError unless a checkpoint of kind `found`, read from `source`, is of `kind`."""
    if kind not in KINDS:
        raise ConfigError(f"checkpoint kind must be one of {KINDS}, got {kind!r}")
    if found != kind:
        what = {
            "meta": "a meta-trained checkpoint (runs/NAME/best.pt or last.pt)",
            "adapted": "an adapted policy written by `daml adapt`",
        }
        raise DataError(f"{source} is {what[found]}; expected {what[kind]}")


def _check_param_shapes(path: Path, kind: str, config: RunConfig, params: dict) -> None:
    """The params must be exactly those the config's model defines (names and shapes)."""
    expected = param_shapes(config.model)
    if kind == "adapted":
        expected = {k: v for k, v in expected.items() if k.startswith(THETA_PREFIXES)}
    missing = sorted(set(expected) - set(params))
    extra = sorted(set(params) - set(expected))
    wrong = sorted(k for k in set(expected) & set(params) if expected[k] != tuple(params[k].shape))
    if missing or extra or wrong:
        detail = "; ".join(
            f"{label} {names[:3]}{'...' if len(names) > 3 else ''}"
            for label, names in (("missing", missing), ("unexpected", extra), ("bad shape", wrong))
            if names
        )
        raise DataError(f"checkpoint {path} does not match its config ({detail}); it is damaged")
