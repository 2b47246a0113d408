"""`launch/bringup.py` and `daml run` start-up: processes, signals and bad-input errors.

The bring-up test starts real processes (the twin and the runner) and stops them with SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import daml.cli

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = ROOT / "launch" / "panda_sim.toml"


def children_of(pid: int) -> list[int]:
    """Direct child process ids (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    return (
        Path(f"/proc/{pid}").exists()
        and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    )


def test_bringup_runs_twin_and_runner_and_sigterm_stops_both(adapted_policy):
    command = [sys.executable, str(ROOT / "launch" / "bringup.py"), "--config", str(CONFIG_PATH)]
    command += ["--policy", str(adapted_policy), "--port", "0"]
    bringup = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    chunks: list[str] = []  # both children write here too; tqdm's \r lines are not split
    reader = threading.Thread(
        target=lambda: chunks.extend(iter(lambda: bringup.stdout.read(64), ""))
    )
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while "img latency" not in "".join(chunks) and time.monotonic() < deadline:
            time.sleep(0.2)  # until the runner's status line shows it driving the arm
        children = children_of(bringup.pid)
        assert len(children) == 2, "bringup did not start the twin and the runner"
        bringup.send_signal(signal.SIGTERM)
        bringup.wait(40)
    finally:
        if bringup.poll() is None:
            bringup.kill()
        reader.join(10)
        bringup.stdout.close()
    output = "".join(chunks)
    assert bringup.returncode == 0, output
    assert "stopped: received SIGINT; zero motion sent" in output
    assert "sim twin: serving" in output and "sim twin: stopped" in output
    assert not any(alive(pid) for pid in children)


def test_unreachable_rosbridge_is_one_clear_error(capsys, adapted_policy, unused_port):
    port = unused_port
    code = daml.cli.main(
        [
            "run",
            "--rosbridge",
            f"ws://127.0.0.1:{port}",
            "--policy",
            str(adapted_policy),
            "--config",
            str(CONFIG_PATH),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "cannot reach rosbridge at ws://127.0.0.1" in err[0]


def test_a_bad_policy_is_named_before_rosbridge_is_tried(capsys, tmp_path, unused_port):
    # The rosbridge URL is unreachable too: the local file is checked first, so the user
    # learns about it without having to bring up a bridge.
    url = f"ws://127.0.0.1:{unused_port}"
    for policy, says in [
        (tmp_path / "missing.pt", "missing.pt"),
        (ROOT / "daml" / "pretrained" / "push.pt", "is a meta-trained checkpoint"),
    ]:
        argv = ["run", "--rosbridge", url, "--policy", str(policy), "--config", str(CONFIG_PATH)]
        code = daml.cli.main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1, err
        assert says in err[0] and "rosbridge" not in err[0]


def test_bringup_refuses_bad_arguments_before_starting_the_twin(tmp_path, adapted_policy):
    bringup = [sys.executable, str(ROOT / "launch" / "bringup.py"), "--config", str(CONFIG_PATH)]
    for extra, says in [
        (["--policy", str(tmp_path / "missing.pt")], "--policy"),
        (["--policy", str(adapted_policy), "--max-steps", "0"], "--max-steps must be >= 1"),
    ]:
        done = subprocess.run(
            bringup + extra + ["--port", "0"], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2 and says in done.stderr, done.stderr
        assert "sim twin" not in done.stdout + done.stderr  # the twin never started


def test_bad_launch_config_is_a_config_error(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG_PATH.read_text().replace("max_speed_m_s = 0.6", "max_speed_m_s = -1"))
    code = daml.cli.main(["run", "--policy", "p.pt", "--config", str(bad)])
    assert code == 2 and "safety.max_speed_m_s" in capsys.readouterr().err
