"""Further human videos of a collected variation (`daml collect --human-takes K`).

Take 0 is the episode's own human demo, drawn with the variation as ever. Take k >= 1 is
another demonstrator run of the same variation: its own look and seed (so its own start, camera
and light jitter), drawn from (seed, index, TAKE_SEED_STREAM, k, attempt) alone. A take is
therefore the same whether it was collected with its episode or added to it later, and adding
takes changes nothing else in the episode.
Runs in the collect workers; imports sim only when called.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from daml.data import Episode, load_episode, save_episode
from daml.errors import DataError

TAKE_SEED_STREAM = 0x7A4E  # third seed word of a further take's draw
MAX_TAKE_ATTEMPTS = 20  # a take whose demonstrator misses is drawn again


def render_takes(
    env: Any, split: str, seed: int, index: int, variation: Any, takes: range
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Human takes `takes` (each k >= 1) of `variation` (a sim.Variation) in `env`.

    Returns:
        frames uint8 (len(takes), T, H, W, 3), avatar masks bool (len(takes), T, H, W), and per
        take {"take", "look", "human_seed", "attempts"} for the episode's variation record.
    """
    import sim

    frames, masks, records = [], [], []
    for k in takes:
        if k < 1:
            raise ValueError(f"take {k}: take 0 is the episode's own human demo")
        for attempt in range(MAX_TAKE_ATTEMPTS):
            rng = np.random.default_rng(
                np.random.SeedSequence([seed, index, TAKE_SEED_STREAM, k, attempt])
            )
            human_seed = int(rng.integers(0, 2**31 - 1))
            look = sim.sample_look(split, rng)
            human = sim.human_demo(env, variation, look, seed=human_seed)
            if human["success"]:
                break
        else:
            raise DataError(
                f"the human-like demo failed {MAX_TAKE_ATTEMPTS} times in a row for take {k} of "
                f"episode {index}; the simulator or object pool is broken"
            )
        frames.append(human["frames"])
        masks.append(human["avatar_masks"])
        records.append(
            {"take": k, "look": look.to_dict(), "human_seed": human_seed, "attempts": attempt + 1}
        )
    return np.stack(frames), np.stack(masks), records


def with_takes(
    episode: Episode, frames: np.ndarray, masks: np.ndarray, records: list[dict[str, Any]]
) -> Episode:
    """`episode` with further takes appended after those it holds (masks kept only if it has
    its own: an episode from before masks were recorded gets none)."""
    own_masks = episode.human_masks is not None
    return replace(
        episode,
        extra_human_frames=_appended(episode.extra_human_frames, frames),
        extra_human_masks=_appended(episode.extra_human_masks, masks) if own_masks else None,
        variation={**episode.variation, "takes": [*episode.variation.get("takes", []), *records]},
    )


def _appended(held: np.ndarray | None, new: np.ndarray) -> np.ndarray:
    """`new` after the takes `held` (None: no takes yet), along the take axis."""
    return new if held is None else np.concatenate([held, new])


def add_takes(env: Any, path: Path, split: str, seed: int, index: int, takes: int) -> int:
    """Give the saved episode at `path` `takes` human videos in all (rewritten atomically);
    returns how many were added (0 if it already holds that many)."""
    import sim

    episode = load_episode(path)
    have = episode.human_takes
    if have >= takes:
        return 0
    variation = sim.Variation.from_dict(episode.variation["variation"])
    frames, masks, records = render_takes(env, split, seed, index, variation, range(have, takes))
    save_episode(path, with_takes(episode, frames, masks, records))
    return takes - have
