"""A training set decoded into memory once, so meta-steps on a GPU never wait on npz reads.

Reading a meta-batch from disk costs ~3.3 ms per episode (zlib inflate + npz parsing, on one
thread of the dev box): 0.21 s for 64 tasks, over twice an H200's meta-step of that batch. With
`daml train --preload` every episode is read once, by a thread pool (zlib releases the GIL),
and the MetaBatchLoader then only stacks arrays that are already in memory.
Must not import sim, pybullet or cv2.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tqdm import tqdm

from daml.data import Episode
from daml.errors import ConfigError

# Leave this much of the machine's available memory free after preloading.
MEMORY_HEADROOM = 0.8


def available_memory_bytes() -> int | None:
    """Memory the kernel reports available (Linux /proc/meminfo MemAvailable); None elsewhere."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class PreloadedEpisodes:
    """Every episode of a dataset (DemoDataset or DatasetUnion), decoded and held in memory.

    Reads the same as its source where the MetaBatchLoader and the training checks look:
    len(), [index] -> Episode, .root and .manifest. Episode i is the source's episode i, so a run
    trains on the same batches with or without preloading.
    """

    def __init__(self, dataset: Any, threads: int | None = None, progress: bool = True) -> None:
        self.root, self.manifest = dataset.root, dataset.manifest
        count = len(dataset)  # >= 1: DemoDataset refuses a directory without episodes
        first = dataset[0]
        needed = first.nbytes * count
        available = available_memory_bytes()
        if available is not None and needed > MEMORY_HEADROOM * available:
            raise ConfigError(
                f"preloading {count} episodes of {dataset.root} needs {needed / 2**30:.1f} GiB "
                f"but {available / 2**30:.1f} GiB is available; train without --preload"
            )
        threads = threads or min(16, os.cpu_count() or 1)
        bar = tqdm(total=count, initial=1, desc="preload", unit="ep", disable=not progress)
        episodes: list[Episode] = [first]
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="daml-preload") as pool:
            for episode in pool.map(dataset.__getitem__, range(1, count)):
                episodes.append(episode)
                bar.update(1)
        bar.close()
        self.episodes = episodes

    def __len__(self) -> int:
        return len(self.episodes)

    def __getitem__(self, index: int) -> Episode:
        return self.episodes[index]

    @property
    def nbytes(self) -> int:
        """Bytes the decoded episodes hold."""
        return sum(episode.nbytes for episode in self.episodes)
