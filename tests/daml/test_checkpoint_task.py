"""Checkpoints know their task: `daml train` records it, export and adapt keep it, the shipped
models are known by digest, and demo / eval / bench / export refuse a checkpoint of the other
task in one line, before any work, instead of running a policy that cannot succeed."""

from __future__ import annotations

import pytest

from daml.adapt import adapt_from_frames
from daml.checkpoint import checkpoint_task, load_checkpoint
from daml.cli import main
from daml.shipped import PRETRAINED_DIR, SHIPPED_TASKS


@pytest.fixture(scope="module")
def by_task(tmp_path_factory, untrained_checkpoint) -> dict[str, str]:
    """Untrained sim-sized meta checkpoints recorded as pick_place's, push's and of no task."""
    root = tmp_path_factory.mktemp("task_ckpts")
    return {
        str(task): str(untrained_checkpoint(root / f"{task}.pt", task=task, conv_strides=(2, 1)))
        for task in ("pick_place", "push", None)
    }


def test_every_shipped_model_is_known_as_its_files_task():
    shipped = sorted(PRETRAINED_DIR.glob("*.pt"))
    assert len(shipped) == 6 and len(SHIPPED_TASKS) == 6
    for path in shipped:
        task = "push" if path.name.startswith("push") else "pick_place"
        assert checkpoint_task(load_checkpoint(path)) == task, path.name


def test_a_checkpoint_without_a_task_is_of_unknown_task(by_task):
    assert checkpoint_task(load_checkpoint(by_task["None"])) is None
    assert checkpoint_task(load_checkpoint(by_task["push"])) == "push"


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_demo_refuses_a_checkpoint_of_the_other_task_and_writes_nothing(tmp_path, by_task, capsys):
    out = tmp_path / "demo"
    args = ["demo", "--task", "push", "--checkpoint", by_task["pick_place"], "--out", str(out)]
    assert main(args) == 2
    err = one_line_error(capsys)
    assert "was meta-trained on pick_place, not push" in err
    assert "pass --task pick_place or a push checkpoint" in err
    assert not out.exists()


def test_eval_refuses_a_checkpoint_of_the_other_task_and_writes_nothing(
    tmp_path, by_task, synthetic_data_dirs, capsys
):
    out = tmp_path / "eval.json"
    common = ["--out", str(out), "--no-progress", "--threads", "1"]
    checkpoint = ["eval", "--checkpoint", by_task["pick_place"]]
    assert main([*checkpoint, "--task", "push", "--variations", "1", *common]) == 2
    assert "pass --task pick_place or a push checkpoint" in one_line_error(capsys)
    assert main([*checkpoint, "--data", str(synthetic_data_dirs["val"]), *common]) == 2
    err = one_line_error(capsys)
    assert "was meta-trained on pick_place, not push" in err
    assert "pass a pick_place dataset as --data or a push checkpoint" in err
    assert not out.exists()


def test_bench_refuses_a_checkpoint_of_the_other_task_in_any_role(tmp_path, by_task, capsys):
    out = tmp_path / "bench"
    common = ["--task", "push", "--episodes", "1", "--out", str(out), "--no-progress"]
    assert main(["bench", "--checkpoint", by_task["pick_place"], *common]) == 2
    err = one_line_error(capsys)
    assert "--checkpoint" in err and "was meta-trained on pick_place, not push" in err
    assert "put {task} in its path" in err
    with_bc = ["--checkpoint", by_task["push"], "--bc-checkpoint", by_task["pick_place"]]
    assert main(["bench", *with_bc, *common]) == 2  # (the task is checked before the role)
    assert "--bc-checkpoint" in (err := one_line_error(capsys)) and "not push" in err
    assert not out.exists()


def test_export_keeps_the_task_and_refuses_a_blend_across_tasks(tmp_path, by_task, capsys):
    out = tmp_path / "exported.pt"
    assert main(["export", "--checkpoint", by_task["push"], "--out", str(out)]) == 0
    assert load_checkpoint(out).info["task"] == "push"
    blend = tmp_path / "blend.pt"
    args = ["export", "--checkpoint", by_task["push"], "--blend", by_task["pick_place"]]
    assert main([*args, "--out", str(blend)]) == 2
    assert "meta-trained on different tasks" in one_line_error(capsys)
    assert not blend.exists()
    unknown = ["export", "--checkpoint", by_task["push"], "--blend", by_task["None"]]
    assert main([*unknown, "--out", str(blend)]) == 0  # a file of unknown task may blend
    assert load_checkpoint(blend).info["task"] == "push"


def test_exporting_a_shipped_model_writes_the_task_its_digest_stood_for(tmp_path):
    out = tmp_path / "push.pt"
    assert main(["export", "--checkpoint", str(PRETRAINED_DIR / "push.pt"), "--out", str(out)]) == 0
    exported = load_checkpoint(out)
    assert exported.sha256 not in SHIPPED_TASKS and exported.info["task"] == "push"


def test_an_adapted_policy_records_its_checkpoints_task(tmp_path, by_task):
    import numpy as np

    frames = np.zeros((40, 32, 32, 3), np.uint8)
    assert adapt_from_frames(by_task["push"], frames).info["task"] == "push"
    assert "task" not in adapt_from_frames(by_task["None"], frames).info
    path = tmp_path / "adapted.pt"
    adapt_from_frames(by_task["pick_place"], frames).save(path)
    assert checkpoint_task(load_checkpoint(path, kind="adapted")) == "pick_place"


def test_adapt_refuses_an_episode_of_the_other_task_and_names_the_task(
    tmp_path, by_task, synthetic_dataset, capsys
):
    from daml.data import DemoDataset, episode_path, save_episode

    root = synthetic_dataset(tmp_path / "data", 1, seed=0)
    episode = DemoDataset(root)[0]
    episode.variation = {"variation": {"task": "push"}}  # as `daml collect` records it
    path = episode_path(root, 0)
    save_episode(path, episode)
    out = tmp_path / "adapted.pt"
    args = ["adapt", "--episode", str(path), "--out", str(out), "--threads", "1"]
    assert main([*args, "--checkpoint", by_task["pick_place"]]) == 2
    err = one_line_error(capsys)
    assert "meta-trained on pick_place, but episode" in err and "is a push demo" in err
    assert not out.exists()
    assert main([*args, "--checkpoint", by_task["push"]]) == 0
    assert "(push model, image 32px, 40 steps)" in capsys.readouterr().out
    assert load_checkpoint(out, kind="adapted").info["task"] == "push"


def test_run_refuses_a_policy_of_another_task_than_the_arms(tmp_path, untrained_checkpoint, capsys):
    """`daml run --task` (launch/bringup.py passes the twin's task): the check comes before any
    network, so no rosbridge is needed to see it."""
    import numpy as np

    meta = untrained_checkpoint(tmp_path / "pp.pt", task="pick_place", image_px=64)
    policy = tmp_path / "adapted.pt"
    adapt_from_frames(str(meta), np.zeros((40, 64, 64, 3), np.uint8)).save(policy)
    args = ["run", "--policy", str(policy), "--config", "launch/panda_sim.toml", "--max-steps", "1"]
    assert main([*args, "--task", "push", "--rosbridge", "ws://127.0.0.1:9"]) == 2
    err = one_line_error(capsys)
    assert "was adapted by a pick_place model, and the arm is set up for push" in err
