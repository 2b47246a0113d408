"""Do the adapted policy's feature points know where the target is? A linear probe.

For each of the first N episodes of a dataset, the checkpoint is adapted on the episode's human
video (or, with --robot-demo, on its robot demo, as the MIL oracle) and its encoder runs on the
episode's first robot frame: 2C feature points (C expected x, then C expected y). A ridge
regression from those points to the robot demo's grasp point (the end-effector x/y at the first
step whose action closes the gripper: where pick_place picks the target) is fitted and scored
by K-fold cross-validation. The same probe on the unadapted theta's points is the baseline: the
first frame alone does not say which object is the target, so whatever the adapted points add
came from the demo.

Reported: the probe's cross-validated RMSE in x and y (cm) next to the spread (standard
deviation) of the grasp points, for points and for the policy's last hidden layer (what the
learned temporal loss reads). An RMSE near the spread means the probe cannot place the target.
pick_place only: push closes its gripper at the start.

    python benchmarks/target_probe.py --checkpoint daml/pretrained/pick_place.pt \\
        --data data/pick_place_dart --episodes 400
    python benchmarks/target_probe.py --checkpoint daml/pretrained/pick_place_mil.pt \\
        --data data/pick_place_dart --episodes 400 --robot-demo
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.func import functional_call

from daml.adapt import adapt_from_frames, adapt_from_robot_demo, load_learner, prepare_frames
from daml.cli import run_reporting_errors
from daml.commands import count as count_type
from daml.data import DemoDataset
from daml.errors import DataError
from daml.meta import normalise_states, policy_pass, theta_of


def grasp_point(states: np.ndarray, actions: np.ndarray) -> np.ndarray | None:
    """(T, 4) states and actions -> (2,) end-effector x/y at the first closing action, or None
    when the demo never closes the gripper."""
    closing = np.flatnonzero(actions[:, 3] > 0)
    return states[closing[0], :2] if len(closing) else None


def first_frame_features(learner, theta, frames, states) -> tuple[np.ndarray, np.ndarray]:
    """(points (2C,), last hidden layer (H,)) of pi_theta on the first robot frame."""
    encoder = {k[len("encoder.") :]: v for k, v in theta.items() if k.startswith("encoder.")}
    with torch.no_grad():
        points = functional_call(learner.model.encoder, encoder, (frames[:1],))
        hidden = policy_pass(learner.model, theta, frames[:1], states[:1]).hidden
    return points[0].numpy(), hidden[0].numpy()


def ridge_cv_rmse(
    features: np.ndarray, targets: np.ndarray, ridge: float, folds: int
) -> np.ndarray:
    """(N, F) features, (N, 2) targets -> (2,) cross-validated RMSE of a ridge regression
    (features centred on each training fold, in their own units: standardising would blow up a
    unit that is almost constant there; intercept not penalised)."""
    n = len(features)
    fold_of = np.arange(n) % folds
    errors = np.empty_like(targets)
    for fold in range(folds):
        train, test = fold_of != fold, fold_of == fold
        mean = features[train].mean(0)
        x_train, x_test = features[train] - mean, features[test] - mean
        offset = targets[train].mean(0)
        gram = x_train.T @ x_train + ridge * len(x_train) * np.eye(x_train.shape[1])
        weights = np.linalg.solve(gram, x_train.T @ (targets[train] - offset))
        errors[test] = x_test @ weights + offset - targets[test]
    return np.sqrt((errors**2).mean(0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="DAML (or MIL) meta checkpoint")
    parser.add_argument("--data", required=True, help="pick_place dataset dir")
    parser.add_argument("--episodes", type=count_type, default=400)
    parser.add_argument("--folds", type=count_type, default=5)
    parser.add_argument("--ridge", type=float, default=1e-3, help="L2 penalty per sample")
    parser.add_argument(
        "--robot-demo", action="store_true", help="adapt on the robot demo (MIL oracle)"
    )
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error(f"--folds must be >= 2, got {args.folds}")
    if not 0 <= args.ridge < float("inf"):
        parser.error(f"--ridge must be >= 0, got {args.ridge}")
    if args.episodes < 2 * args.folds:
        parser.error(f"--episodes must be >= 2 * --folds ({2 * args.folds})")
    torch.set_num_threads(1)
    learner, config = load_learner(args.checkpoint)
    dataset = DemoDataset(args.data)
    theta = theta_of(learner.params)
    started = time.perf_counter()
    rows: dict[str, list[np.ndarray]] = {"grasp": [], "p0": [], "h0": [], "pa": [], "ha": []}
    read = min(args.episodes, len(dataset))
    for index in range(read):
        episode = dataset[index]
        grasp = grasp_point(episode.robot_states, episode.robot_actions)
        if grasp is None:
            continue
        if args.robot_demo:
            policy = adapt_from_robot_demo(
                learner, episode.robot_frames, episode.robot_states, episode.robot_actions
            )
        else:
            policy = adapt_from_frames(learner, episode.human_frames)
        frames = prepare_frames(episode.robot_frames, config.model.image_px)
        states = normalise_states(torch.from_numpy(episode.robot_states), config.model)
        rows["grasp"].append(grasp)
        for key, params in (("0", theta), ("a", policy.params)):
            points, hidden = first_frame_features(learner, params, frames, states)
            rows["p" + key].append(points)
            rows["h" + key].append(hidden)
    if len(rows["grasp"]) < 2 * args.folds:
        raise DataError(
            f"only {len(rows['grasp'])} of {read} episodes of {args.data} close the gripper; the "
            f"probe needs >= 2 * --folds ({2 * args.folds}): give more pick_place episodes"
        )
    data = {key: np.stack(value) for key, value in rows.items()}
    count = len(data["grasp"])
    source = "robot demo" if args.robot_demo else "human video"
    spread = 100 * data["grasp"].std(0)
    print(
        f"{args.checkpoint} on {args.data}: {count} episodes with a grasp, adapted on the "
        f"{source}, {args.folds}-fold ridge probe ({time.perf_counter() - started:.0f} s)"
    )
    print("| probe input (first robot frame) | dims | RMSE x / y (cm) |")
    print("| --- | ---: | ---: |")
    print(f"| none: the grasp points' spread (std) | 0 | {spread[0]:.1f} / {spread[1]:.1f} |")
    for key, name in (
        ("p0", "feature points, unadapted theta"),
        ("pa", "feature points, adapted"),
        ("h0", "last hidden layer, unadapted theta"),
        ("ha", "last hidden layer, adapted"),
    ):
        rmse = 100 * ridge_cv_rmse(data[key], data["grasp"], args.ridge, args.folds)
        print(f"| {name} | {data[key].shape[1]} | {rmse[0]:.1f} / {rmse[1]:.1f} |")


if __name__ == "__main__":
    raise SystemExit(run_reporting_errors("target_probe", main))
