"""Every run config shipped in configs/ loads and validates (a broken one fails `daml train`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from daml.config import RunConfig

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.json"))


def test_configs_are_shipped():
    assert len(CONFIGS) >= 2


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_loads(path):
    config = RunConfig.load(path)
    assert config.train.steps > 0 and 0 <= config.train.lr_decay_start < config.train.steps
