"""Several dataset directories read as one training set (`daml train --data A B ...`).

Collections of one task made at different seeds, DART noise or expert speeds train together:
the meta-batch loader shuffles over all their episodes at once.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Sequence
from dataclasses import replace
from itertools import accumulate

from daml.data import DemoDataset, Episode
from daml.errors import DataError

MUST_MATCH = ("task", "image_px", "episode_steps", "control_hz")


class DatasetUnion:
    """The episodes of several DemoDatasets, part after part (len = the sum of theirs).

    Attributes:
        parts: the DemoDatasets, in the order given.
        root: the directories joined with " + " (for messages).
        manifest: the first part's, with `variations` summed, `human_masks` set only if
            every part records the avatar's pixels, and `human_takes` the fewest of any part.
    """

    def __init__(self, roots: Sequence[str | os.PathLike]) -> None:
        if len(roots) < 2:
            raise DataError(f"a dataset union needs at least two directories, got {len(roots)}")
        self.parts = [DemoDataset(root) for root in roots]
        _check_parts(self.parts)
        first = self.parts[0].manifest
        self.manifest = replace(
            first,
            variations=sum(part.manifest.variations for part in self.parts),
            human_masks=all(part.manifest.human_masks for part in self.parts),
            human_takes=min(part.manifest.human_takes for part in self.parts),
        )
        self.root = " + ".join(str(part.root) for part in self.parts)
        self._ends = list(accumulate(len(part) for part in self.parts))

    def __len__(self) -> int:
        return self._ends[-1]

    def __getitem__(self, index: int) -> Episode:
        if not -len(self) <= index < len(self):
            raise IndexError(f"episode {index} is out of range for {len(self)} episodes")
        index %= len(self)
        part = bisect.bisect_right(self._ends, index)
        start = self._ends[part - 1] if part else 0
        return self.parts[part][index - start]


def open_training_data(data: str | os.PathLike | Sequence[str | os.PathLike]):
    """One directory -> its DemoDataset; several -> a DatasetUnion of them."""
    if isinstance(data, (str, os.PathLike)):
        return DemoDataset(data)
    if len(data) == 1:
        return DemoDataset(data[0])
    return DatasetUnion(data)


def _check_parts(parts: list[DemoDataset]) -> None:
    """Refuse parts of different tasks or frame formats, and one collection given twice."""
    first = parts[0]
    for index, part in enumerate(parts[1:], start=1):
        for key in MUST_MATCH:
            mine, theirs = getattr(part.manifest, key), getattr(first.manifest, key)
            if mine != theirs:
                raise DataError(
                    f"{part.root} has {key}={mine!r} but {first.root} has {key}={theirs!r}; "
                    f"datasets trained on together must match in {', '.join(MUST_MATCH)}"
                )
        for earlier in parts[:index]:
            if part.root.resolve() == earlier.root.resolve():
                raise DataError(f"dataset {part.root} is given twice")
            if part.manifest.compatible_with(earlier.manifest):
                manifest = part.manifest
                raise DataError(
                    f"{part.root} and {earlier.root} are the same collection (split "
                    f"{manifest.split!r}, seed {manifest.seed}, the same expert settings): "
                    "training on both repeats its episodes; collect the second with another --seed"
                )
