"""Meta-batches of task variations as torch tensors, and the endless shuffled loader of them.

Must not import sim, pybullet or cv2.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from daml.config import HUMAN_TAKES
from daml.data import DemoDataset, Episode
from daml.errors import ConfigError

TAKE_STREAM = 0x7A4E  # third seed word of the loader's per-step draw of each episode's take


@dataclass
class MetaBatch:
    """B task variations, each a (human demo, robot demo) pair, as torch tensors.

    Attributes:
        human_frames: uint8 (B, T, 3, H, W).
        robot_frames: uint8 (B, T, 3, H, W).
        robot_states: float32 (B, T, 4).
        robot_actions: float32 (B, T, 4).
        human_masks: bool (B, T, H, W) the avatar's pixels in human_frames; None unless every
            episode has them.
    """

    human_frames: Any
    robot_frames: Any
    robot_states: Any
    robot_actions: Any
    human_masks: Any = None

    @classmethod
    def from_episodes(cls, episodes: list[Episode]) -> MetaBatch:
        import torch

        def stack_frames(key: str):
            frames = np.stack([getattr(e, key) for e in episodes])  # (B, T, H, W, 3)
            return torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 1, 4, 2, 3)))

        masks = None
        if all(e.human_masks is not None for e in episodes):
            masks = torch.from_numpy(np.stack([e.human_masks for e in episodes]))
        return cls(
            human_frames=stack_frames("human_frames"),
            robot_frames=stack_frames("robot_frames"),
            robot_states=torch.from_numpy(np.stack([e.robot_states for e in episodes])).float(),
            robot_actions=torch.from_numpy(np.stack([e.robot_actions for e in episodes])).float(),
            human_masks=masks,
        )

    def to(self, device: Any) -> MetaBatch:
        non_blocking = str(device).startswith("cuda")
        return MetaBatch(
            **{
                f.name: None
                if getattr(self, f.name) is None
                else getattr(self, f.name).to(device, non_blocking=non_blocking)
                for f in fields(self)
            }
        )

    def __len__(self) -> int:
        return int(self.robot_actions.shape[0])


class MetaBatchLoader:
    """Endless meta-batches of B episodes, shuffled per epoch, read by a prefetch thread.

    The batch at step s depends only on (seed, s), so a resumed run that starts at
    `start_step` sees exactly the batches an uninterrupted run would have seen. Episodes with
    several human takes give one of them, drawn per step (`human_takes="random"`), or always
    their first ("first"); one-take episodes draw nothing, so their batches are as before.
    """

    def __init__(
        self,
        dataset: DemoDataset,
        meta_batch: int,
        seed: int = 0,
        start_step: int = 0,
        prefetch: int = 2,
        human_takes: str = "random",
    ) -> None:
        if human_takes not in HUMAN_TAKES:
            raise ConfigError(f"human_takes must be one of {HUMAN_TAKES}, got {human_takes!r}")
        if meta_batch <= 0:
            raise ConfigError(f"meta_batch must be positive, got {meta_batch}")
        if meta_batch > len(dataset):
            raise ConfigError(
                f"meta_batch {meta_batch} exceeds the {len(dataset)} episodes in {dataset.root}"
            )
        self.dataset, self.meta_batch, self.seed = dataset, meta_batch, seed
        self.start_step, self.prefetch, self.human_takes = start_step, prefetch, human_takes

    def indices(self, step: int) -> np.ndarray:
        """Episode indices (B,) of the batch at `step`."""
        per_epoch = len(self.dataset) // self.meta_batch
        epoch, slot = divmod(step, per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))
        return order[slot * self.meta_batch : (slot + 1) * self.meta_batch]

    def batch(self, step: int) -> MetaBatch:
        episodes = [self.dataset[int(i)] for i in self.indices(step)]
        return MetaBatch.from_episodes(self.pick_takes(episodes, step))

    def pick_takes(self, episodes: list[Episode], step: int) -> list[Episode]:
        """Each episode with the human take it gives at `step` as its only one."""
        if self.human_takes == "first" or all(e.human_takes == 1 for e in episodes):
            return [e.take(0) for e in episodes]
        rng = np.random.default_rng([self.seed, step, TAKE_STREAM])
        return [e.take(int(rng.integers(e.human_takes))) for e in episodes]

    def __iter__(self) -> Iterator[MetaBatch]:
        buffer: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def produce() -> None:
            step = self.start_step
            while not stop.is_set():
                try:
                    item: Any = self.batch(step)
                except Exception as error:  # handed to the consumer, which re-raises it
                    item = error
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if isinstance(item, Exception):
                    return
                step += 1

        worker = threading.Thread(target=produce, daemon=True, name="daml-meta-batches")
        worker.start()
        try:
            while True:
                item = buffer.get()
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            stop.set()
