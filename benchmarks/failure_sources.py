"""Where do one-shot failures come from: the scene, the human video, or the arm's start?

For each of N sampled variations of a split, V human videos of it (each with its own avatar look
and demonstrator seed) adapt the checkpoint, and every adapted policy is rolled out from K arm
starts (env.reset seeds; the scene is the variation's, so only the arm's start differs). Video 0
and start 0 of variation i are exactly `daml eval --split S --variations N --seed SEED`'s case i.
The success indicator's variance is split three ways, as a nested design: between variations
(some scenes fail whatever the video), between the videos of one variation (adaptation depends on
the video), and between the arm starts of one adapted policy (closed-loop precision). The
target's final x/y position is split the same way: its offset from the goal averaged per
variation (a scene's bias), the spread of the per-video means about it, and the spread of the
rollouts about their video's mean.

    python benchmarks/failure_sources.py --checkpoint daml/pretrained/push.pt --task push \
        --variations 60 --videos 3 --starts 3 --workers 2
"""

from __future__ import annotations

import argparse
import functools
from concurrent.futures import ProcessPoolExecutor

import numpy as np

import sim
from daml.checkpoint import check_task, load_checkpoint
from daml.cli import run_reporting_errors
from daml.commands import count, seed
from daml.commands.eval import MAX_DEMO_ATTEMPTS, case_reset_seed, sampled_human_demo
from daml.errors import DataError
from daml.evaluate import rollout

VIDEO_STREAM, START_STREAM = 3_000_017, 3_000_019  # SeedSequence tags of the extra draws


def variation_outcomes(
    checkpoint: str,
    task: str,
    split: str,
    seed_: int,
    index: int,
    videos: int,
    starts: int,
    average: bool = False,
    vary: str = "both",
) -> dict:
    """Variation `index`'s V x K rollouts: {"success": bool (V, K), "final_xy": (V, K, 2) the
    target's final x/y, "goal_xy": (2,), "averaged": bool (K,) the rollouts of the policy whose
    weights are the mean of the V adapted ones (all False unless `average`)}. `vary` says what
    videos 1.. change from video 0: "both" (look and demonstrator seed), "look" or "seed"."""
    from daml.adapt import adapt_from_demos, adapt_from_frames

    learner = _learner(checkpoint)
    success = np.zeros((videos, starts), bool)
    final_xy = np.zeros((videos, starts, 2))
    with sim.make_env(task) as env:
        first = sampled_human_demo(sim, env, task, split, seed_, index)
        if first is None:
            raise DataError(f"the human demonstrator failed variation {index}")
        variation, clips = first["variation"], [first["frames"]]
        keep = {"look": first["look"], "seed": first["human_seed"]}
        for video in range(1, videos):
            clips.append(_another_video(env, variation, split, seed_, index, video, vary, keep))
        reset_seeds = [case_reset_seed(seed_, index)] + [
            int(np.random.SeedSequence([seed_, index, START_STREAM, k]).generate_state(1)[0])
            for k in range(1, starts)
        ]
        policies = [adapt_from_frames(learner, frames) for frames in clips]
        for video, policy in enumerate(policies):
            for start, reset_seed in enumerate(reset_seeds):
                success[video, start], final_xy[video, start] = _rollout(
                    env, policy, variation, reset_seed
                )
        averaged = np.zeros(starts, bool)
        if average:
            policy = adapt_from_demos(learner, clips)
            for start, reset_seed in enumerate(reset_seeds):
                averaged[start] = _rollout(env, policy, variation, reset_seed)[0]
        goal_xy = np.asarray(env.scene.target_slot_xy, float)
    return {"success": success, "final_xy": final_xy, "goal_xy": goal_xy, "averaged": averaged}


@functools.cache
def _learner(checkpoint: str):
    """The checkpoint's Learner, loaded once per worker process (one torch thread each)."""
    import torch

    from daml.adapt import load_learner

    torch.set_num_threads(1)
    return load_learner(checkpoint)[0]


def _rollout(env, policy, variation, reset_seed: int) -> tuple[bool, np.ndarray]:
    """One episode (daml.evaluate.rollout) from `reset_seed`'s arm start: (success, the
    target's final x/y (2,))."""
    success = rollout(env, policy, variation, reset_seed)[0]
    lo, hi = env.scene.target_bounds(env.bullet)
    return success, (lo[:2] + hi[:2]) / 2


def _another_video(
    env, variation, split: str, seed_: int, index: int, video: int, vary: str, keep: dict
) -> np.ndarray:
    """Human video number `video` (>= 1) of `variation`: a new look and demonstrator seed (the
    seed draws the demonstrator's start and the camera and light jitter); with `vary` "look" or
    "seed", only that one is new and the other is video 0's (`keep`). Re-drawn if the
    demonstrator fails."""
    for attempt in range(MAX_DEMO_ATTEMPTS):
        rng = np.random.default_rng(np.random.SeedSequence([seed_, index, VIDEO_STREAM, video,
                                                            attempt]))  # fmt: skip
        look, human_seed = sim.sample_look(split, rng), int(rng.integers(2**31 - 1))
        if vary == "look":
            human_seed = keep["seed"]
        elif vary == "seed":
            look = keep["look"]
        human = sim.human_demo(env, variation, look, seed=human_seed)
        if human["success"]:
            return human["frames"]
    raise DataError(
        f"the human demonstrator failed variation {index} {MAX_DEMO_ATTEMPTS} times in a row"
    )


def success_variance(success: np.ndarray) -> dict[str, float]:
    """Split the variance of a balanced nested success array (N, V, K) into its parts: between
    variations, between videos within a variation, between starts within a video. The three
    add up to the total (all population variances over the N*V*K rollouts)."""
    y = success.astype(float)
    per_video, per_variation = y.mean(axis=2), y.mean(axis=(1, 2))
    return {
        "total": float(y.var()),
        "variations": float(per_variation.var()),
        "videos": float(((per_video - per_variation[:, None]) ** 2).mean()),
        "starts": float(((y - per_video[:, :, None]) ** 2).mean()),
    }


def position_spread(final_xy: np.ndarray, goal_xy: np.ndarray) -> dict[str, float]:
    """RMS x/y distances (m) of the target's final positions (N, V, K, 2) with goals (N, 2):
    each variation's mean from its goal, each video's mean from its variation's mean, each
    rollout from its video's mean."""
    per_video = final_xy.mean(axis=2)
    per_variation = per_video.mean(axis=1)

    def rms(offsets: np.ndarray) -> float:
        return float(np.sqrt((offsets**2).sum(axis=-1).mean()))

    return {
        "variation bias": rms(per_variation - goal_xy),
        "videos": rms(per_video - per_variation[:, None]),
        "starts": rms(final_xy - per_video[:, :, None]),
    }


def report(success: np.ndarray, final_xy: np.ndarray, goal_xy: np.ndarray) -> str:
    """The printed summary: rates, the agreement counts and both splits."""
    n, v, k = success.shape
    per_variation = success.reshape(n, -1)
    every, none = int(per_variation.all(axis=1).sum()), int((~per_variation).all(axis=1).sum())
    videos_agree = int((success.all(axis=2) | (~success).all(axis=2)).sum())
    parts = success_variance(success)
    spread = position_spread(final_xy, goal_xy)
    lines = [
        f"{success.sum()} of {success.size} rollouts succeed ({success.mean():.1%}); "
        f"video 0 from start 0 (the `daml eval` case): {success[:, 0, 0].sum()} of {n}",
        f"variations: {every} of {n} succeed in all {v * k} rollouts, {none} in none, "
        f"{n - every - none} mixed",
        f"adapted policies whose {k} starts agree: {videos_agree} of {n * v}",
        "success variance "
        + ", ".join(
            f"{name} {value:.4f}"
            + ("" if name == "total" else f" ({value / max(parts['total'], 1e-12):.0%})")
            for name, value in parts.items()
        ),
        "target's final x/y, RMS (cm): "
        + ", ".join(f"{name} {100 * value:.2f}" for name, value in spread.items()),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="DAML meta checkpoint")
    parser.add_argument("--task", required=True, choices=sim.TASKS)
    parser.add_argument("--split", default="val", choices=sim.SPLITS)
    parser.add_argument("--variations", type=count, default=60)
    parser.add_argument("--videos", type=count, default=3, help="human videos per variation")
    parser.add_argument("--starts", type=count, default=3, help="arm starts per adapted policy")
    parser.add_argument("--seed", type=seed, default=11, help="as `daml eval --seed`")
    parser.add_argument("--workers", type=count, default=1, help="processes")
    parser.add_argument(
        "--vary",
        choices=("both", "look", "seed"),
        default="both",
        help="what videos 1.. of a variation change from video 0: the avatar's look and the "
        "demonstrator's seed (its start, camera and light jitter), or only one of them",
    )
    parser.add_argument(
        "--average-videos",
        action="store_true",
        help="also roll out, from the same starts, one policy per variation whose weights are "
        "the mean of its V adapted ones (what adaptation on all V videos at once could give), "
        "paired against the single videos",
    )
    args = parser.parse_args(argv)
    check_task(load_checkpoint(args.checkpoint), args.task, args.checkpoint)
    jobs = [
        (
            args.checkpoint,
            args.task,
            args.split,
            args.seed,
            index,
            args.videos,
            args.starts,
            args.average_videos,
            args.vary,
        )
        for index in range(args.variations)
    ]
    from tqdm import tqdm

    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(variation_outcomes, *job) for job in jobs]
        results = [future.result() for future in tqdm(futures, desc="variations", unit="var")]
    success = np.stack([r["success"] for r in results])
    final_xy = np.stack([r["final_xy"] for r in results])
    goal_xy = np.stack([r["goal_xy"] for r in results])
    print(
        f"{args.checkpoint} on {args.variations} {args.task} {args.split} variations "
        f"(seed {args.seed}), {args.videos} videos x {args.starts} arm starts each"
        + ("" if args.vary == "both" else f"; its videos differ in {args.vary} only")
    )
    print(report(success, final_xy, goal_xy))
    if args.average_videos:
        print(averaged_report(success, np.stack([r["averaged"] for r in results])))


def averaged_report(success: np.ndarray, averaged: np.ndarray) -> str:
    """The weight-averaged policies (N, K) against the single videos' (N, V, K) from the same
    starts: rates, and an exact McNemar test against video 0 (the `daml eval` video)."""
    from daml.paired import discordant_counts, exact_mcnemar

    n, v, k = success.shape
    only_average, only_video = discordant_counts(averaged.ravel(), success[:, 0].ravel())
    return (
        f"the {v} videos' adapted weights averaged: {averaged.sum()} of {n * k} "
        f"({averaged.mean():.1%}) against {success.mean():.1%} for one video; against video 0 "
        f"from the same starts ({success[:, 0].sum()} of {n * k}): {only_average} vs "
        f"{only_video} discordant, exact McNemar p = {exact_mcnemar(only_average, only_video):.2g}"
    )


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("failure_sources", main))
