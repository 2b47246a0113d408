"""Benchmark results -> report.json, report.md (method x task table) and a bar chart PNG.

All files written atomically. Must not import sim, torch or cv2 (matplotlib Agg only).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from daml.baselines import Method
from daml.bench import EpisodeOutcome
from daml.evaluate import wilson_interval
from daml.output_path import write_bytes_atomic
from daml.paired import discordant_counts, exact_mcnemar

REFERENCE_METHOD = "daml"  # every other method is compared with it, episode by episode
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
CHART_PNG = "success_rates.png"


def summarise(
    methods_by_task: dict[str, Sequence[Method]],
    outcomes: Sequence[EpisodeOutcome],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The report as plain JSON-able data.

    Returns {"settings", "methods": {name: {label, checkpoint per task, not_run}},
    "results": {method: {task: {successes, trials, success_rate, ci95, seconds,
    seconds_per_episode, episodes: [{variation, trial, seed, success, steps, seconds, video}]}
    or {"not_run": reason}}}, "paired": {task: {method: {episodes, only_daml, only_method,
    p}}}}: DAML against every other method that ran, on the same episodes (exact McNemar p).
    """
    methods: dict[str, dict[str, Any]] = {}
    results: dict[str, dict[str, Any]] = {}
    for task, task_methods in methods_by_task.items():
        for method in task_methods:
            entry = methods.setdefault(
                method.name, {"label": method.label, "checkpoint": {}, "not_run": method.not_run}
            )
            entry["checkpoint"][task] = method.checkpoint
            mine = [o for o in outcomes if o.task == task and o.method == method.name]
            results.setdefault(method.name, {})[task] = (
                {"not_run": method.not_run} if method.not_run else _cell(mine)
            )
    return {
        "settings": settings,
        "methods": methods,
        "results": results,
        "paired": paired_against_reference(results),
    }


def paired_against_reference(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{task: {method: {episodes, only_daml, only_method, p}}} for every method run beside DAML.

    Episodes are matched by (variation, trial); bench runs every method on the same pairs.
    """
    reference = results.get(REFERENCE_METHOD, {})
    paired: dict[str, dict[str, Any]] = {}
    for task, cell in reference.items():
        if "not_run" in cell:
            continue
        mine = {(e["variation"], e["trial"]): e["success"] for e in cell["episodes"]}
        for name, cells in results.items():
            other = cells.get(task, {"not_run": "absent"})
            if name == REFERENCE_METHOD or "not_run" in other:
                continue
            theirs = {(e["variation"], e["trial"]): e["success"] for e in other["episodes"]}
            if theirs.keys() != mine.keys():
                raise ValueError(f"{name} and {REFERENCE_METHOD} ran different {task} episodes")
            paired_outcomes = list(mine.values()), [theirs[key] for key in mine]
            only_daml, only_method = discordant_counts(*paired_outcomes)
            paired.setdefault(task, {})[name] = {
                "episodes": len(mine),
                "only_daml": only_daml,
                "only_method": only_method,
                "p": exact_mcnemar(only_daml, only_method),
            }
    return paired


def _cell(outcomes: Sequence[EpisodeOutcome]) -> dict[str, Any]:
    successes, trials = sum(o.success for o in outcomes), len(outcomes)
    seconds = sum(o.seconds for o in outcomes)
    episodes = [
        {k: v for k, v in asdict(o).items() if k not in ("task", "method")} for o in outcomes
    ]
    return {
        "successes": successes,
        "trials": trials,
        "success_rate": successes / trials if trials else None,
        "ci95": list(wilson_interval(successes, trials)),
        "seconds": seconds,
        "seconds_per_episode": seconds / trials if trials else None,
        "episodes": episodes,
    }


def write_report(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """report.json, report.md and the bar chart into out_dir; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / REPORT_JSON, "md": out_dir / REPORT_MD, "png": out_dir / CHART_PNG}
    write_bytes_atomic(paths["json"], json.dumps(report, indent=2).encode())
    write_bytes_atomic(paths["md"], markdown(report).encode())
    write_bytes_atomic(paths["png"], bar_chart_png(report))
    return paths


def markdown(report: dict[str, Any]) -> str:
    """A markdown page: settings, then one table row per method and task."""
    settings = report["settings"]
    lines = [
        "# One-shot benchmark on held-out objects",
        "",
        f"{settings['variations']} variations x {settings['trials']} trials per task "
        f"(seed {settings['seed']}); every method ran on the same (variation, env seed) pairs. "
        "Success = info['success'] after env.episode_steps steps; 95% Wilson intervals. "
        "Seconds: adaptation + rollout, summed over episodes (CPU, one torch thread per worker; "
        f"{settings['workers']} worker(s), {settings['wall_seconds']:.0f} s wall in all).",
        "",
    ]
    lines += [f"- {task}: {source}" for task, source in settings["sources"].items()]
    lines += [
        "",
        "| method | task | success % | 95% CI | episodes | seconds | s / episode |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, method in report["methods"].items():
        for task, cell in report["results"][name].items():
            if "not_run" in cell:
                lines.append(f"| {method['label']} | {task} | not run | - | 0 | - | - |")
                continue
            low, high = cell["ci95"]
            rate = "-" if cell["success_rate"] is None else f"{100 * cell['success_rate']:.1f}"
            per_episode = cell["seconds_per_episode"]
            lines.append(
                f"| {method['label']} | {task} | {rate} | {100 * low:.1f}-{100 * high:.1f} | "
                f"{cell['trials']} | {cell['seconds']:.1f} | "
                f"{'-' if per_episode is None else f'{per_episode:.2f}'} |"
            )
    not_run = [f"{m['label']}: {m['not_run']}" for m in report["methods"].values() if m["not_run"]]
    if not_run:
        lines += ["", "Not run: " + "; ".join(not_run) + "."]
    return "\n".join(lines + _paired_lines(report)) + "\n"


def _paired_lines(report: dict[str, Any]) -> list[str]:
    """The paired section: DAML minus each method, discordant episodes, exact McNemar p."""
    rows = [
        f"| {report['methods'][name]['label']} | {task} | "
        f"{100 * (pair['only_daml'] - pair['only_method']) / pair['episodes']:+.1f} | "
        f"{pair['only_daml']} | {pair['only_method']} | {pair['p']:.2g} |"
        for task, methods in report.get("paired", {}).items()
        for name, pair in methods.items()
    ]
    if not rows:
        return []
    return [
        "",
        "DAML against each method on the same episodes: the difference in success (points), the "
        "episodes only one of the two solved, and the exact McNemar p-value on those.",
        "",
        "| method | task | DAML minus method | only DAML | only method | McNemar p |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *rows,
    ]


def bar_chart_png(report: dict[str, Any]) -> bytes:
    """Grouped bars: success % per method, one bar per task, Wilson 95% error bars."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot global state

    names = list(report["methods"])
    tasks = list(next(iter(report["results"].values())))
    width = 0.8 / len(tasks)
    figure = Figure(figsize=(1.6 * len(names) + 2, 4), dpi=100)
    axes = figure.add_subplot()
    for t, task in enumerate(tasks):
        xs, rates, errors = [], [], ([], [])
        for m, name in enumerate(names):
            cell = report["results"][name][task]
            x = m - 0.4 + width * (t + 0.5)
            if "not_run" in cell or cell["success_rate"] is None:
                axes.text(x, 2, "not run", rotation=90, ha="center", va="bottom", fontsize=8)
                continue
            rate, (low, high) = 100 * cell["success_rate"], cell["ci95"]
            xs.append(x)
            rates.append(rate)
            errors[0].append(rate - 100 * low)
            errors[1].append(100 * high - rate)
        axes.bar(xs, rates, width, yerr=errors, capsize=3, label=task)
    axes.set_xticks(range(len(names)), [n.replace("_", " ") for n in names])
    axes.set_ylabel("success % (95% Wilson CI)")
    axes.set_ylim(0, 105)
    axes.grid(True, axis="y", alpha=0.3)
    axes.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
