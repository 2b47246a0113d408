"""Stopping `daml train` by a signal: Ctrl-C (SIGINT) or SIGTERM finishes the step in hand,
saves last.pt and exits 128 + signum, and --resume continues exactly; a second signal stops at
once; a signal in the last step lets the run finish; and daml.graceful_stop leaves handlers as
it found them, an ignored signal ignored, and other threads alone."""

from __future__ import annotations

import signal
import threading

import pytest
import torch

import daml.train
from daml.checkpoint import load_checkpoint
from daml.cli import main
from daml.graceful_stop import Stopped, on_stop_signals, stop_after_the_step


@pytest.fixture(autouse=True)
def sigint_as_in_a_terminal():
    """SIGINT handled by Python, as in a terminal. A shell starts a background job (`pytest &`,
    some CI runners) with SIGINT ignored, which daml.graceful_stop rightly leaves ignored, so
    these tests would see no Ctrl-C at all."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def signal_during_step(monkeypatch):
    """signal_during_step(signum, step): raise `signum` inside meta-step number `step` (1-based),
    after its batch is in hand and before its update; signal_during_step(None): no more."""
    meta_step = daml.train._meta_step

    def install(signum: int | None, step: int = 0) -> None:
        if signum is None:
            monkeypatch.setattr(daml.train, "_meta_step", meta_step)
            return

        def step_with_signal(run, batch):
            if run.step + 1 == step:
                signal.raise_signal(signum)
            return meta_step(run, batch)

        monkeypatch.setattr(daml.train, "_meta_step", step_with_signal)

    return install


def handlers() -> tuple:
    return signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)


def test_ctrl_c_saves_the_step_in_hand_and_exits_130(
    train_args, tmp_path, synthetic_data_dirs, config_path, capfd, signal_during_step
):
    stopped = tmp_path / "stopped"
    before = handlers()
    signal_during_step(signal.SIGINT, 3)
    args = train_args(synthetic_data_dirs, stopped, config_path, "--steps", "5")
    assert main(args) == 130
    printed = capfd.readouterr()  # (the signal handler writes to fd 2 directly)
    assert "SIGINT: saving" in printed.err and "daml train: interrupted" in printed.err
    assert "stopped at step 3" in printed.out
    assert load_checkpoint(stopped / "last.pt").step == 3  # checkpoint_every 2 alone: step 2
    assert handlers() == before


def test_a_stopped_run_resumes_to_the_same_weights_as_a_straight_one(
    train_args, tmp_path, synthetic_data_dirs, config_path, capsys, signal_during_step
):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert main(train_args(synthetic_data_dirs, straight, config_path, "--steps", "5")) == 0
    signal_during_step(signal.SIGTERM, 3)
    args = train_args(synthetic_data_dirs, stopped, config_path, "--steps", "5")
    assert main(args) == 143
    assert "daml train: stopped by SIGTERM" in capsys.readouterr().err
    signal_during_step(None)
    assert main([*args, "--resume"]) == 0
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(stopped / "last.pt")
    assert a.step == b.step == 5
    assert all(torch.equal(a.params[name], b.params[name]) for name in a.params)


def test_a_signal_in_the_last_step_lets_the_run_finish(
    train_args, tmp_path, synthetic_data_dirs, config_path, capsys, signal_during_step
):
    signal_during_step(signal.SIGTERM, 4)
    out = tmp_path / "run"
    assert main(train_args(synthetic_data_dirs, out, config_path, "--steps", "4")) == 0
    assert "trained 4 steps" in capsys.readouterr().out
    assert load_checkpoint(out / "last.pt").step == 4
    assert (out / "learning_curve.png").is_file()


def test_a_second_signal_stops_at_once():
    with pytest.raises(Stopped) as stopped:
        with stop_after_the_step("saving") as request:
            signal.raise_signal(signal.SIGTERM)
            assert request.signum == signal.SIGTERM  # the first one only asks
            signal.raise_signal(signal.SIGINT)
            pytest.fail("the second signal did not stop the block")
    assert stopped.value.signum == signal.SIGINT


def test_an_ignored_signal_stays_ignored_and_handlers_come_back(monkeypatch):
    monkeypatch.setattr(signal, "getsignal", _getsignal_with_sigint_ignored(signal.getsignal))
    installed = []
    monkeypatch.setattr(signal, "signal", lambda number, handler: installed.append(number))
    with on_stop_signals(lambda signum: None):
        pass
    assert installed == [signal.SIGTERM, signal.SIGTERM]  # taken, then put back; SIGINT never


def _getsignal_with_sigint_ignored(getsignal):
    return lambda number: signal.SIG_IGN if number == signal.SIGINT else getsignal(number)


def test_outside_the_main_thread_nothing_changes():
    seen = []

    def worker() -> None:
        before = handlers()
        with stop_after_the_step("saving") as request:
            seen.append((handlers() == before, request.signum))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [(True, 0)]
