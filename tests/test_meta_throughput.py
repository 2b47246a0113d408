"""benchmarks/meta_throughput.py: a tiny timed table, and a bad --config as one line, exit 2."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def meta_throughput(benchmark_script):
    with benchmark_script("meta_throughput") as module:
        yield module


TINY = ["--tasks", "2", "--frames", "4", "--image-px", "16", "--warmup", "0", "--repeats", "1"]


def test_it_times_both_paths_for_a_config_model(meta_throughput, tmp_path, capsys) -> None:
    config = tmp_path / "small.json"
    config.write_text(
        json.dumps(
            {"model": {"conv_channels": [4, 4], "conv_strides": [2, 1], "hidden_sizes": [8]}}
        )
    )
    assert meta_throughput.main([*TINY, "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"model of {config}" in out and "T=4, 16x16" in out
    row = [line for line in out.splitlines() if line.startswith("| 2 |")]
    assert len(row) == 1
    cells = [float(cell) for cell in row[0].strip("|").split("|")[1:]]
    assert len(cells) == 4 and all(cell > 0 for cell in cells)  # ms and tasks/s, loop and vmap


@pytest.mark.parametrize("content", [None, "{not json", '{"model": {"conv_channels": "x"}}'])
def test_a_bad_config_is_one_line_and_exit_2(meta_throughput, tmp_path, capsys, content):
    config = tmp_path / "bad.json"
    if content is not None:
        config.write_text(content)
    assert meta_throughput.main([*TINY, "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("meta_throughput: ")
