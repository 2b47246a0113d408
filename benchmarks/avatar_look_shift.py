"""How much does the demonstrator's colour cost? One-shot success per avatar hue band.

The same held-out (test-split) variations, arm starts and demonstrator motions are rendered
with avatars that differ only in hue: each variation draws one avatar shape, size, saturation,
value and a position u in [0, 1) inside the band, and every band uses hue = low + u * (high -
low). The checkpoint is adapted on each video and rolled out; success per band with a 95%
Wilson interval. Bands: the avatar hue bands of the splits (train 0-0.55, val 0.55-0.7, test
0.7-1.0, sim.avatar.HUE_BANDS) or any LOW-HIGH range.

    python benchmarks/avatar_look_shift.py --task push --checkpoint daml/pretrained/push.pt \
        --variations 100 --bands train test 0.7-0.8 0.8-0.9 0.9-1.0
"""

from __future__ import annotations

import argparse
import colorsys
import json
import time
from functools import partial

import numpy as np
import torch

import sim
from daml.adapt import adapt_from_frames, load_learner
from daml.checkpoint import check_task, load_checkpoint
from daml.cli import run_reporting_errors
from daml.commands import count, seed
from daml.commands.eval import SimCases
from daml.errors import ConfigError
from daml.evaluate import evaluate, wilson_interval
from daml.output_path import check_output_file, write_bytes_atomic
from sim.avatar import HUE_BANDS, SATURATION_RANGE, SHAPES, SIZE_RANGE, VALUE_RANGE


def parse_band(text: str) -> tuple[float, float]:
    """'train' | 'val' | 'test' | 'LOW-HIGH' (0 <= LOW < HIGH <= 1) -> (low, high) hue."""
    if text in HUE_BANDS:
        return HUE_BANDS[text]
    try:
        low, high = (float(part) for part in text.split("-"))
    except ValueError:
        raise ConfigError(f"bad band {text!r}: use train, val, test or LOW-HIGH") from None
    if not 0.0 <= low < high <= 1.0:
        raise ConfigError(f"bad band {text!r}: need 0 <= LOW < HIGH <= 1")
    return low, high


def look_in_band(band: tuple[float, float], rng: np.random.Generator) -> sim.AvatarLook:
    """An avatar look whose hue sits at the same relative place in any band, given rng state."""
    u, saturation, value = rng.uniform(), rng.uniform(*SATURATION_RANGE), rng.uniform(*VALUE_RANGE)
    shape, size = SHAPES[int(rng.integers(len(SHAPES)))], float(rng.uniform(*SIZE_RANGE))
    rgb = colorsys.hsv_to_rgb(band[0] + u * (band[1] - band[0]), saturation, value)
    return sim.AvatarLook(tuple(round(c, 4) for c in rgb), shape, round(size, 4))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, choices=sim.TASKS)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--variations", type=count, default=100)
    parser.add_argument("--bands", nargs="+", default=["train", "val", "test"])
    parser.add_argument("--seed", type=seed, default=11)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    bands = [(name, parse_band(name)) for name in args.bands]  # checked before any work
    torch.set_num_threads(1)
    checkpoint = load_checkpoint(args.checkpoint, kind="meta")  # read once: learner and task
    learner, config = load_learner(checkpoint)
    check_task(checkpoint, args.task, args.checkpoint)
    if args.out:
        check_output_file(args.out)
    env_config = sim.EnvConfig(
        image_px=config.model.image_px, episode_steps=config.model.episode_steps
    )
    rows = []
    print("| avatar hue band | success | 95% CI | seconds |\n| --- | ---: | ---: | ---: |")
    for name, band in bands:
        start = time.perf_counter()
        report = evaluate(
            lambda: sim.make_env(args.task, env_config),
            lambda frames: adapt_from_frames(learner, frames),
            SimCases(
                args.task,
                "test",
                args.variations,
                args.seed,
                env_config,
                look=partial(look_in_band, band),
            ),
            progress=False,
        )
        low, high = wilson_interval(report.successes, report.trials)
        seconds = time.perf_counter() - start
        rows.append({"band": name, "hue": band, "successes": report.successes,
                     "trials": report.trials, "ci95": [low, high], "seconds": seconds})  # fmt: skip
        print(
            f"| {name} ({band[0]:.2f}-{band[1]:.2f}) | {report.successes}/{report.trials} "
            f"({report.successes / report.trials:.1%}) | {low:.1%}-{high:.1%} | {seconds:.0f} |",
            flush=True,
        )
    if args.out:
        result = {"task": args.task, "checkpoint": args.checkpoint, "rows": rows}
        write_bytes_atomic(args.out, json.dumps(result, indent=2).encode())


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("avatar_look_shift", main))
