"""`daml collect`'s dataset folder: what is left to collect there, and what it holds.

Runs in the parent process (not the workers); Attempts is how a worker reports an episode.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from daml.errors import DataError


@dataclass(frozen=True)
class Attempts:
    """How episode k was obtained: sampled variations whose robot expert failed, and those
    whose human-like demo missed (both re-sampled, never saved); `retried`: the saved robot
    demo shows a recovery (--grasp-miss, --push-retries); `policy_success`: with --dagger,
    whether the learner's rollout succeeded (None without)."""

    robot_failures: int = 0
    human_failures: int = 0
    retried: bool = False
    policy_success: bool | None = None


def missing_episodes(
    out: Path, variations: int, takes: int, repair: bool
) -> tuple[list[int], list[int]]:
    """Indices still to collect, and those saved with fewer than `takes` human videos; stops
    (or with `repair` quarantines) on corrupt episodes."""
    from daml.data import episode_path, load_episode

    missing, short = [], []
    for index in range(variations):
        path = episode_path(out, index)
        if not path.exists():
            missing.append(index)
            continue
        try:
            if load_episode(path).human_takes < takes:
                short.append(index)
        except DataError as error:
            if not repair:
                raise DataError(
                    f"{path} is corrupt or truncated; re-run with --repair to move it to "
                    f"{out / 'corrupt'} and re-collect it"
                ) from error
            quarantine = out / "corrupt"
            quarantine.mkdir(exist_ok=True)
            os.replace(path, quarantine / path.name)
            missing.append(index)
    return missing, short


def remove_stale_temp_files(episodes_dir: Path) -> None:
    """Temp files of a killed run: never complete, never read; safe to delete."""
    for stale in episodes_dir.glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def ensure_writable(out: Path) -> None:
    from daml.output_path import make_folder

    left = [p for p in out.iterdir() if p.name != "episodes"] if out.is_dir() else []
    if left and not (out / "manifest.json").exists():  # (an empty episodes/: a failed start)
        raise DataError(f"{out} holds files but no dataset; give a new or empty folder as --out")
    make_folder(out / "episodes", what=f"cannot create output directory {out}")


def print_summary(
    out: Path,
    variations: int,
    collected: int,
    attempts: list[Attempts],
    seconds: float,
    added_takes: tuple[int, int] = (0, 0),
) -> None:
    """What `out` holds now and how this run went; `added_takes`: (human takes added, to how
    many episodes collected before)."""
    from daml.data import DemoDataset

    dataset = DemoDataset(out)
    total_bytes = sum(path.stat().st_size for path in dataset.paths)
    first = dataset[0]
    print(
        f"dataset {out}: task={dataset.manifest.task} split={dataset.manifest.split} "
        f"episodes={len(dataset)}/{variations} (collected now: {collected})"
    )
    print(
        f"  frames per demo: {first.robot_frames.shape[0]}  image: "
        f"{first.robot_frames.shape[1]}x{first.robot_frames.shape[2]}  "
        f"bytes/episode: {total_bytes / len(dataset):,.0f}"
    )
    if attempts:
        print(
            f"  {success_line(attempts)}  time: {seconds:.1f} s "
            f"({60 * len(attempts) / max(seconds, 1e-9):.1f} episodes/min)"
        )
        if dataset.manifest.grasp_miss > 0 or dataset.manifest.push_retries > 0:
            retried = sum(a.retried for a in attempts)
            print(f"  robot demos that show a recovery: {retried}/{len(attempts)}")
    takes = dataset.manifest.human_takes
    if takes > 1 or added_takes[0]:
        added = f"{added_takes[0]} takes to {added_takes[1]} episodes collected before"
        timing = f"; time: {seconds:.1f} s in all" if added_takes[0] else ""
        print(f"  human takes per episode: {takes} (added now: {added}{timing})")


def success_line(attempts: list[Attempts]) -> str:
    """Expert success over every sampled variation, and the human-like demo's over the
    variations whose robot demo succeeded (failures of either are re-sampled); with --dagger
    the human-like demo's over every sampled variation and the learner's over the episodes."""
    episodes = len(attempts)
    if attempts[0].policy_success is not None:
        tries = episodes + sum(a.human_failures for a in attempts)
        wins = sum(bool(a.policy_success) for a in attempts)
        return (
            f"human-like demo success: {episodes}/{tries} ({100 * episodes / tries:.1f}%)  "
            f"--dagger learner success: {wins}/{episodes} ({100 * wins / episodes:.1f}%)"
        )
    robot_ok = episodes + sum(a.human_failures for a in attempts)
    robot_tries = robot_ok + sum(a.robot_failures for a in attempts)
    return (
        f"robot expert success: {robot_ok}/{robot_tries} ({100 * robot_ok / robot_tries:.1f}%)  "
        f"human-like demo success: {episodes}/{robot_ok} ({100 * episodes / robot_ok:.1f}%)"
    )
