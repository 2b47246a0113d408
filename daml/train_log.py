"""What a training run records as it goes: mean step metrics per log window with the throughput,
`metrics.jsonl` (one JSON record per line, resumable) and the learning-curve PNG."""

from __future__ import annotations

import io
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from daml.errors import DataError
from daml.output_path import write_bytes_atomic


class TrainWindow:
    """Mean step metrics between two log lines, plus the meta-training throughput."""

    def __init__(self, meta_batch: int) -> None:
        self.meta_batch = meta_batch
        self.values: dict[str, list[float]] = defaultdict(list)
        self.started = time.perf_counter()

    def add(self, step_metrics: dict[str, float]) -> None:
        for key, value in step_metrics.items():
            self.values[key].append(value)

    def flush(self) -> dict[str, float]:
        """The window's means and tasks/s; starts a new window."""
        record = {key: float(np.mean(values)) for key, values in self.values.items()}
        steps = len(next(iter(self.values.values()), []))
        record["tasks_per_s"] = steps * self.meta_batch / (time.perf_counter() - self.started)
        self.values, self.started = defaultdict(list), time.perf_counter()
        return record


class MetricsLog:
    """`metrics.jsonl`: one JSON record per line; lines after `keep_until_step` are dropped
    (a resumed run redoes them; a fresh run passes -1)."""

    def __init__(self, path: Path, keep_until_step: int) -> None:
        self.path = path
        kept = [r for r in self.records() if r["step"] <= keep_until_step]
        text = "".join(json.dumps(r) + "\n" for r in kept)
        write_bytes_atomic(path, text.encode())

    def records(self) -> list[dict]:
        """The records written so far. A last line cut short (the run was killed mid-write) is
        dropped, as the resume redoes its step; a damaged line before it is a DataError."""
        if not self.path.is_file():
            return []
        lines = [line for line in self.path.read_text(errors="replace").splitlines() if line]
        records = []
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                    raise ValueError("not a record with a step")
            except ValueError:
                if number == len(lines):
                    break
                raise DataError(
                    f"{self.path} line {number} is not a metrics record; the file is damaged "
                    "(remove that line to resume)"
                ) from None
            records.append(record)
        return records

    def append(self, step: int, split: str, values: dict[str, float]) -> dict[str, float]:
        with self.path.open("a") as handle:
            handle.write(json.dumps({"step": step, "split": split, **values}) + "\n")
        return values


def plot_learning_curve(records: list[dict], png_path: Path) -> None:
    """Train outer loss and validation pre/post-adaptation BC loss vs step, as a PNG (atomic)."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot global state

    figure = Figure(figsize=(7, 4), dpi=100)
    axes = figure.add_subplot()
    series = [
        ("train", "total", "train outer loss", "tab:gray"),
        ("train", "bc", "train BC (post-adapt)", "tab:blue"),
        ("val", "pre_bc", "val BC pre-adapt", "tab:orange"),
        ("val", "post_bc", "val BC post-adapt", "tab:green"),
    ]
    for split, key, label, color in series:
        points = [(r["step"], r[key]) for r in records if r["split"] == split and key in r]
        if points:
            steps, values = zip(*points, strict=True)
            axes.plot(steps, values, label=label, color=color, marker="." if split == "val" else "")
    axes.set_xlabel("meta-step")
    axes.set_ylabel("loss")
    if all(value > 0 for line in axes.get_lines() for value in line.get_ydata()):
        axes.set_yscale("log")
    axes.grid(True, alpha=0.3)
    if axes.get_lines():  # no records yet (a run stopped before its first log): no legend
        axes.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    write_bytes_atomic(png_path, buffer.getvalue())
