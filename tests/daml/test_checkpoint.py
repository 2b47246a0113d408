"""Checkpoint round trips and clear DataErrors for corrupt, truncated and foreign files."""

from __future__ import annotations

import io
import pickle

import pytest
import torch

from daml.checkpoint import (
    FORMAT_NAME,
    Checkpoint,
    file_sha256,
    load_checkpoint,
    save_checkpoint,
)
from daml.config import MetaConfig, RunConfig
from daml.errors import DataError
from daml.meta import Learner, theta_of, trainable_params


@pytest.fixture
def meta_checkpoint(tiny_model) -> Checkpoint:
    learner = Learner.create(tiny_model, MetaConfig(), seed=0)
    optimizer = torch.optim.Adam(trainable_params(learner.params, learner.meta_config))
    sum(v.sum() for v in learner.params.values()).backward()
    optimizer.step()
    config = RunConfig(model=tiny_model)
    return Checkpoint("meta", config, learner.params, 1, optimizer.state_dict(), 0.5, {"k": 1})


def test_meta_round_trip_is_exact(tmp_path, meta_checkpoint):
    path = tmp_path / "last.pt"
    written_sha256 = save_checkpoint(path, meta_checkpoint)
    loaded = load_checkpoint(path, kind="meta")
    assert loaded.config == meta_checkpoint.config
    assert loaded.step == 1 and loaded.best_val == 0.5 and loaded.info == {"k": 1}
    assert list(loaded.params) == list(meta_checkpoint.params)  # order feeds the optimizer
    for name, value in meta_checkpoint.params.items():
        assert torch.equal(loaded.params[name], value.detach())
    state, original = loaded.optimizer_state["state"], meta_checkpoint.optimizer_state["state"]
    assert all(torch.equal(state[i]["exp_avg"], original[i]["exp_avg"]) for i in original)
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))
    assert loaded.sha256 == file_sha256(path) and meta_checkpoint.sha256 == ""  # of the bytes read
    assert written_sha256 == loaded.sha256


def test_adapted_round_trip_and_kind_check(tmp_path, meta_checkpoint):
    adapted = Checkpoint("adapted", meta_checkpoint.config, theta_of(meta_checkpoint.params))
    save_checkpoint(tmp_path / "adapted.pt", adapted)
    save_checkpoint(tmp_path / "meta.pt", meta_checkpoint)
    assert load_checkpoint(tmp_path / "adapted.pt", kind="adapted").kind == "adapted"
    with pytest.raises(DataError, match="is an adapted policy .*; expected a meta-trained"):
        load_checkpoint(tmp_path / "adapted.pt", kind="meta")
    with pytest.raises(DataError, match="meta-trained checkpoint .*; expected an adapted"):
        load_checkpoint(tmp_path / "meta.pt", kind="adapted")


def test_saving_over_a_checkpoint_replaces_it_whole(tmp_path, meta_checkpoint):
    path = tmp_path / "last.pt"
    save_checkpoint(path, meta_checkpoint)
    meta_checkpoint.step = 2
    save_checkpoint(path, meta_checkpoint)
    assert load_checkpoint(path).step == 2
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def truncated(raw: bytes) -> bytes:
    return raw[: len(raw) // 2]


@pytest.mark.parametrize(
    "damage",
    [truncated, lambda raw: b"", lambda raw: b"not a checkpoint at all" * 50],
    ids=["truncated", "empty", "garbage"],
)
def test_corrupt_or_truncated_file_raises_data_error(tmp_path, meta_checkpoint, damage):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, meta_checkpoint)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match="corrupt, truncated or not a daml checkpoint") as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


class NotAllowed:
    """A class the weights_only unpickler refuses to build."""


@pytest.mark.parametrize(
    "content, message",
    [
        (torch_bytes({"encoder.weight": torch.zeros(2)}), "is not a daml checkpoint"),
        (torch_bytes(torch.zeros(3)), "is not a daml checkpoint"),
        (torch_bytes([1, 2, 3]), "is not a daml checkpoint"),
        (torch_bytes(NotAllowed()), "corrupt, truncated or not a daml checkpoint"),
        (pickle.dumps({"format": FORMAT_NAME}), "corrupt, truncated or not a daml checkpoint"),
        (torch_bytes({"format": FORMAT_NAME, "format_version": 99}), "format version 99"),
        (
            torch_bytes({"format": FORMAT_NAME, "format_version": 1, "kind": "weird"}),
            "unknown kind 'weird'",
        ),
    ],
    ids=["state-dict", "tensor", "list", "class", "plain-pickle", "version", "kind"],
)
@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_foreign_files_raise_data_error(tmp_path, content, message):
    path = tmp_path / "foreign.pt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_checkpoint(path)


def test_params_that_do_not_match_the_config_raise(tmp_path, meta_checkpoint):
    params = dict(meta_checkpoint.params)
    params["policy.action_head.weight"] = torch.zeros(2, 2)
    del params["encoder.convs.0.bias"]
    meta_checkpoint.params = params
    save_checkpoint(tmp_path / "bad.pt", meta_checkpoint)
    with pytest.raises(DataError, match="missing.*encoder.convs.0.bias.*bad shape"):
        load_checkpoint(tmp_path / "bad.pt")


def test_invalid_config_inside_raises_data_error(tmp_path, meta_checkpoint):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, meta_checkpoint)
    payload = torch.load(path, weights_only=True)
    payload["config"] = '{"model": {"image_px": 2}}'
    path.write_bytes(torch_bytes(payload))
    with pytest.raises(DataError, match="invalid config.*image_px"):
        load_checkpoint(path)


def test_missing_file_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
