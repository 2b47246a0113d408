"""A test dataset written in the daml format: its manifest, then its episodes in order."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from daml.data import Episode, Manifest, episode_path, save_episode


def save_dataset(root: Path, manifest: Manifest, episodes: Iterable[Episode]) -> Path:
    """Write `manifest` and `episodes` (episode i as NNNNNN.npz) under `root`; returns root."""
    manifest.save(root)
    for index, episode in enumerate(episodes):
        save_episode(episode_path(root, index), episode)
    return root
