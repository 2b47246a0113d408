"""Why do one-shot rollouts fail? Sorts each held-out episode into an outcome by what moved.

For each of the first N episodes of a dataset the DAML checkpoint is adapted on the episode's
human video and rolled out in the sim (same reset seeds as `daml eval --data`); the script
tracks every object's base position and counts:

* success;
* target moved (> MOVED_M in x/y or lifted > LIFTED_M) but not onto its goal/tray, split by
  whether it ended nearer the other slot (wrong slot) or not (imprecise);
* a distractor moved and the target did not (wrong object);
* nothing moved (the arm never engaged an object);

with the gripper's closest x/y approach to the target and to the nearest other object, how
many episodes came nearer another object than the target (a policy that goes down between the
objects, or to a wrong one, rather than to the target), and where the gripper first closed: its
x/y distance then to the centre of the target's bounding box (where the scripted expert grasps;
a large one is a grasp attempted off the object), the same distance CLOSE_LOOKBACK steps
earlier (how much of its x/y error the policy corrected while descending) and the control step,
how many rollouts closed the gripper more than once (a policy that re-opens after a missed
grasp and tries again, as demos collected with `daml collect --grasp-miss` show), how far the
target got along the line from its start to its goal (% of that distance, at the end) and the
last control step at which it still advanced (by more than ADVANCE_FRACTION of the distance): a
push that loses the object midway stops advancing early and short of 100%; and, for push, how
many rollouts brought the pusher down to the table (below LOW_Z_M) more than once: a policy that
lifts after losing its object and pushes again, as demos collected with `daml collect
--push-retries` show.

    python benchmarks/failure_modes.py --checkpoint daml/pretrained/push.pt --data data/push_test
    python benchmarks/failure_modes.py --checkpoint daml/pretrained/push_mil.pt \
        --data data/push_test --robot-demo   # the oracle: adapted on the episode's robot demo
    python benchmarks/failure_modes.py --checkpoint daml/pretrained/pick_place_mil.pt \
        --data data/pick_place_val --robot-demo --inner-steps 5   # more test-time steps
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import torch

import sim
from daml import OBS_IMAGE_KEY, OBS_STATE_KEY
from daml.adapt import adapt_from_frames, adapt_from_robot_demo, load_learner
from daml.checkpoint import check_task, load_checkpoint
from daml.cli import run_reporting_errors
from daml.commands import count, seed
from daml.commands.eval import DatasetCases

MOVED_M = 0.02  # x/y displacement that counts as "moved"
LIFTED_M = 0.03  # height gain that counts as "lifted"
CLOSE_LOOKBACK = 3  # steps before the first close at which the x/y error is also reported
ADVANCE_FRACTION = 0.01  # a step that moves the target this share of the way to its goal
LOW_Z_M = 0.035  # end effector this near the table: at pushing height (sim pushes at 0.022)
OUTCOMES = ("success", "target moved, wrong slot", "target moved, imprecise", "wrong object",
            "nothing moved")  # fmt: skip


class Rollout(NamedTuple):
    """What `classify` measured in one rollout (distances in metres)."""

    outcome: str  # one of OUTCOMES
    to_target: float  # the gripper's closest x/y approach to the target
    to_other: float  # ... and to the nearest other object
    early_xy: float  # x/y from the gripper to the target's box centre CLOSE_LOOKBACK steps
    close_xy: float  # before it first closed (or at step 0 if sooner), and when it closed;
    close_step: int  # that control step (nan, nan and -1 if it never closed)
    closings: int  # how many times it started closing
    progress: float  # the target's final progress along its start-to-goal line (1 = there)
    advanced_step: int  # the last step at which the target advanced (-1: never)
    descents: int  # how many times the end effector came down below LOW_Z_M
    final_distance: float  # x/y from the target's box centre to its goal at the end (what
    # success thresholds: sim's push GOAL_RADIUS_M; for pick_place, the tray's centre)


def classify(env, policy, case) -> Rollout:
    """Roll `policy` out on `case` and sort the outcome by what moved (see `Rollout`)."""
    obs, _ = env.reset(seed=case.reset_seed, variation=case.variation)
    scene, target = env.scene, env.scene.variation.target_index
    start = np.array([env.bullet.pose(body)[0] for body in scene.object_bodies])
    peak = start[:, 2].copy()
    closest = np.full(len(start), np.inf)
    lo, hi = scene.target_bounds(env.bullet)
    grasp_xy = (lo[:2] + hi[:2]) / 2  # where the scripted expert grasps
    info = {"success": False}
    early_xy, close_xy, close_step = float("nan"), float("nan"), -1
    closings, was_closing = 0, False
    offsets = []  # x/y distance to grasp_xy before each step
    line = scene.target_slot_xy - start[target, :2]  # the target's way to its goal
    progress, advanced_step = 0.0, -1
    descents, was_low = 0, bool(obs[OBS_STATE_KEY][2] < LOW_Z_M)
    for step in range(env.episode_steps):
        offsets.append(float(np.linalg.norm(obs[OBS_STATE_KEY][:2] - grasp_xy)))
        action = policy.act(obs[OBS_IMAGE_KEY], obs[OBS_STATE_KEY])
        closing = bool(action[3] > 0)  # the gripper contract: > 0 closes
        if closing and not was_closing:
            if closings == 0:
                close_step, close_xy = step, offsets[-1]
                early_xy = offsets[max(0, step - CLOSE_LOOKBACK)]
            closings += 1
        was_closing = closing
        obs, _, _, truncated, info = env.step(action)
        now = np.array([env.bullet.pose(body)[0] for body in scene.object_bodies])
        peak = np.maximum(peak, now[:, 2])
        gripper_xy = obs[OBS_STATE_KEY][:2]
        low = bool(obs[OBS_STATE_KEY][2] < LOW_Z_M)
        descents += int(low and not was_low)
        was_low = low
        closest = np.minimum(closest, np.linalg.norm(start[:, :2] - gripper_xy, axis=1))
        now_progress = float((now[target, :2] - start[target, :2]) @ line / (line @ line))
        if now_progress - progress > ADVANCE_FRACTION:
            advanced_step = step
        progress = now_progress
        if truncated:
            break
    moved = (np.linalg.norm(now[:, :2] - start[:, :2], axis=1) > MOVED_M) | (
        peak - start[:, 2] > LIFTED_M
    )
    lo, hi = scene.target_bounds(env.bullet)
    final_distance = float(np.linalg.norm((lo[:2] + hi[:2]) / 2 - scene.target_slot_xy))
    measures = (
        float(closest[target]),
        float(np.delete(closest, target).min(initial=np.inf)),
        early_xy,
        close_xy,
        close_step,
        closings,
        progress,
        advanced_step,
        descents,
        final_distance,
    )
    if info["success"]:
        return Rollout("success", *measures)
    if moved[target]:
        to_goal = np.linalg.norm(now[target, :2] - scene.target_slot_xy)
        to_other = np.linalg.norm(now[target, :2] - scene.slot_xy[1 - scene.variation.target_slot])
        slot = "wrong slot" if to_other < to_goal else "imprecise"
        return Rollout(f"target moved, {slot}", *measures)
    return Rollout("wrong object" if moved.any() else "nothing moved", *measures)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="DAML meta checkpoint")
    parser.add_argument("--data", required=True, help="dataset dir (e.g. data/push_test)")
    parser.add_argument("--episodes", type=count, default=100)
    parser.add_argument("--seed", type=seed, default=0, help="as `daml eval --seed`")
    parser.add_argument(
        "--robot-demo",
        action="store_true",
        help="adapt on each episode's robot demo (BC inner step, as the MIL oracle in `daml "
        "bench`) instead of its human video",
    )
    parser.add_argument(
        "--inner-steps",
        type=count,
        help="adaptation steps at test time (default: the checkpoint's meta.inner_steps), with "
        "its learned step sizes",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    checkpoint = load_checkpoint(args.checkpoint, kind="meta")  # read once: learner and task
    learner, _ = load_learner(checkpoint)
    if args.inner_steps is not None:
        learner.meta_config = replace(learner.meta_config, inner_steps=args.inner_steps)
    cases = DatasetCases(sim, args.data, args.episodes, args.seed)
    check_task(
        checkpoint,
        cases.task,
        args.checkpoint,
        "pass a checkpoint and --data of one task",
    )
    counts: Counter[str] = Counter()
    approach: dict[str, list[tuple[float, float]]] = {name: [] for name in OUTCOMES}
    closing: dict[str, list[tuple[float, float, int]]] = {name: [] for name in OUTCOMES}
    regrasped: Counter[str] = Counter()
    advance: dict[str, list[tuple[float, int]]] = {name: [] for name in OUTCOMES}
    came_down_again: Counter[str] = Counter()
    final: dict[str, list[float]] = {name: [] for name in OUTCOMES}
    with sim.make_env(cases.task, cases.env_config) as env:
        for index, case in enumerate(cases):
            if args.robot_demo:
                demo = cases.dataset[index]
                policy = adapt_from_robot_demo(
                    learner, demo.robot_frames, demo.robot_states, demo.robot_actions
                )
            else:
                policy = adapt_from_frames(learner, case.human_frames)
            rollout = classify(env, policy, case)
            outcome = rollout.outcome
            came_down_again[outcome] += int(rollout.descents > 1)
            advance[outcome].append((rollout.progress, rollout.advanced_step))
            counts[outcome] += 1
            approach[outcome].append((rollout.to_target, rollout.to_other))
            closing[outcome].append((rollout.early_xy, rollout.close_xy, rollout.close_step))
            regrasped[outcome] += int(rollout.closings > 1)
            final[outcome].append(rollout.final_distance)
    total = sum(counts.values())
    source = "robot demos" if args.robot_demo else "human videos"
    steps = learner.meta_config.inner_steps
    print(f"{args.checkpoint} on {args.data}, {steps} step(s) on {source}: {total} episodes")
    print(
        "| outcome | episodes | share | median closest approach to the target / to another "
        "object, x/y (cm) | nearer another object | first close: median x/y to the target's box "
        f"centre {CLOSE_LOOKBACK} steps before -> then (cm), step | never closed "
        "| closed more than once | target's progress to its goal at the end, median % "
        "| target last advanced at step, median | came down to the table again (push) "
        "| target's final x/y distance to its goal, median (cm) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in OUTCOMES:
        pairs = np.array(approach[name]).reshape(-1, 2)
        medians = "-"
        if len(pairs):
            medians = " / ".join(f"{100 * m:.1f}" for m in np.median(pairs, axis=0))
        nearer = int((pairs[:, 1] < pairs[:, 0]).sum())
        closes = np.array([c for c in closing[name] if c[2] >= 0]).reshape(-1, 3)
        first = "-"
        if len(closes):
            early, then, step = np.median(closes, axis=0)
            first = f"{100 * early:.1f} -> {100 * then:.1f}, {step:.0f}"
        never = counts[name] - len(closes)
        progress, last = "-", "-"
        if advance[name]:
            ends, steps_at = np.array(advance[name]).T
            progress = f"{100 * np.median(ends):.0f}"
            last = f"{np.median(steps_at):.0f}"
        distance = f"{100 * np.median(final[name]):.1f}" if final[name] else "-"
        print(
            f"| {name} | {counts[name]} | {counts[name] / total:.0%} | {medians} | {nearer} "
            f"| {first} | {never} | {regrasped[name]} | {progress} | {last} "
            f"| {came_down_again[name]} | {distance} |"
        )
    print(final_distance_summary(final))


def final_distance_summary(final: dict[str, list[float]]) -> str:
    """A line on how near the target ended to its goal: the 10/25/50/75/90th percentiles (cm)
    of the failed and of the successful rollouts (near misses sit just above the successes)."""
    parts = []
    for label, names in (("failures", OUTCOMES[1:]), ("successes", OUTCOMES[:1])):
        values = [d for name in names for d in final[name]]
        if values:
            cm = np.percentile(100 * np.array(values), [10, 25, 50, 75, 90])
            parts.append(f"{label} ({len(values)}) " + " / ".join(f"{v:.1f}" for v in cm))
    return "target's final x/y distance to its goal, 10/25/50/75/90th percentiles (cm): " + (
        "; ".join(parts) or "no episodes"
    )


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("failure_modes", main))
