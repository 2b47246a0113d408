"""Does one-shot success gain from a different test-time inner step? Success per (K, scale).

The checkpoint is meta-trained for K inner steps with learned per-tensor learning rates alpha.
At adaptation this script uses K' steps with every alpha multiplied by a scale, adapts on each
validation variation's human video and rolls out (validation split only: this is a tuning
question, so it must not look at the test split). Cases: the episodes of --data (stored human
videos) and --variations sampled validation variations (rendered on the fly, --seed).

    python benchmarks/inner_step_sensitivity.py --checkpoint daml/pretrained/push.pt \
        --data data/push_val --variations 150 --settings 1x1.0 1x0.75 1x1.25 2x1.0
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import torch

import sim
from daml.adapt import adapt_from_frames, load_learner
from daml.checkpoint import check_task, load_checkpoint
from daml.cli import run_reporting_errors
from daml.commands import count, seed
from daml.commands.eval import DatasetCases, SimCases
from daml.errors import ConfigError
from daml.evaluate import EvalReport, evaluate
from daml.meta import ALPHA_PREFIX, Learner
from daml.output_path import check_output_file, write_bytes_atomic


def parse_setting(text: str) -> tuple[int, float]:
    """'KxSCALE' (e.g. 2x0.5: two inner steps at half the learned rates) -> (K, scale)."""
    try:
        steps, scale = text.split("x")
        parsed = int(steps), float(scale)
    except ValueError:
        raise ConfigError(f"bad setting {text!r}: use KxSCALE, e.g. 1x1.0 or 2x0.5") from None
    if not (parsed[0] >= 1 and 0 < parsed[1] < float("inf")):
        raise ConfigError(f"bad setting {text!r}: need K >= 1 and SCALE > 0")
    return parsed


def with_inner_step(learner: Learner, steps: int, scale: float) -> Learner:
    """A copy of `learner` that adapts with `steps` inner steps at `scale` x its alphas."""
    params = {
        name: value.detach() * scale if name.startswith(ALPHA_PREFIX) else value.detach()
        for name, value in learner.params.items()
    }
    meta = replace(learner.meta_config, inner_steps=steps)
    return Learner(learner.model_config, meta, params)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument(
        "--data", required=True, help="validation dataset (daml collect --split val)"
    )
    parser.add_argument("--variations", type=count, default=150, help="sampled val variations too")
    parser.add_argument("--seed", type=seed, default=11)
    parser.add_argument("--settings", nargs="+", default=["1x1.0", "1x0.75", "1x1.25", "2x1.0"])
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    settings = [(text, *parse_setting(text)) for text in args.settings]  # checked before work
    torch.set_num_threads(1)
    checkpoint = load_checkpoint(args.checkpoint, kind="meta")  # read once: learner and task
    learner, _ = load_learner(checkpoint)
    data_cases = DatasetCases(sim, args.data, None, 0)
    check_task(
        checkpoint,
        data_cases.task,
        args.checkpoint,
        "pass a checkpoint and --data of one task",
    )
    if args.out:
        check_output_file(args.out)
    sampled = SimCases(data_cases.task, "val", args.variations, args.seed, data_cases.env_config)
    rows = []
    print(
        "| inner steps x alpha scale | success | 95% CI | seconds |\n| --- | ---: | ---: | ---: |"
    )
    for text, steps, scale in settings:
        variant, start, episodes = with_inner_step(learner, steps, scale), time.perf_counter(), []
        for cases in (data_cases, sampled):
            episodes += evaluate(
                lambda cases=cases: sim.make_env(cases.task, cases.env_config),
                lambda frames, variant=variant: adapt_from_frames(variant, frames),
                cases,
                progress=False,
            ).episodes
        report = EvalReport(episodes)
        summary, seconds = report.to_dict(), time.perf_counter() - start
        low, high = summary["ci95_low"], summary["ci95_high"]
        rows.append({"setting": text, "inner_steps": steps, "alpha_scale": scale,
                     "successes": report.successes, "trials": report.trials,
                     "ci95": [low, high], "seconds": seconds})  # fmt: skip
        print(
            f"| {steps} x {scale:g} | {report.successes}/{report.trials} "
            f"({summary['success_rate']:.1%}) | {low:.1%}-{high:.1%} | {seconds:.0f} |",
            flush=True,
        )
    if args.out:
        result = {"checkpoint": args.checkpoint, "data": args.data, "rows": rows}
        write_bytes_atomic(args.out, json.dumps(result, indent=2).encode())


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("inner_step_sensitivity", main))
