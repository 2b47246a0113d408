"""The task table: task name -> TaskSpec. Must not import torch or daml."""

from __future__ import annotations

from sim.tasks.base import Scene, TaskSpec
from sim.tasks.pick_place import PICK_PLACE
from sim.tasks.push import PUSH
from sim.variation import check_task

TASK_SPECS: dict[str, TaskSpec] = {spec.name: spec for spec in (PICK_PLACE, PUSH)}


def get_task(name: str) -> TaskSpec:
    """The TaskSpec of `name`; SimError naming the valid tasks otherwise."""
    return TASK_SPECS[check_task(name)]


__all__ = ["TASK_SPECS", "Scene", "TaskSpec", "get_task"]
