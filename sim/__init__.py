"""sim: the PyBullet manipulation task family (pick_place, push), demonstrators and camera.

Never imports torch or daml. The public API is listed in docs/ARCHITECTURE.md.
"""

from sim.avatar import AvatarLook, human_demo, sample_look
from sim.env import MAX_EE_STEP_M, EnvConfig, ManipulationEnv, make_env
from sim.errors import SimError
from sim.expert_demo import robot_demo
from sim.objects import object_split
from sim.variation import SPLITS, TASKS, Variation, check_split, check_task, sample_variation

# Observation/action contract shared with `daml` (docs/ARCHITECTURE.md; tests/test_contract.py).
OBS_IMAGE_KEY = "image"
OBS_STATE_KEY = "state"
STATE_DIM = 4
ACTION_DIM = 4

__all__ = [
    "ACTION_DIM",
    "MAX_EE_STEP_M",
    "OBS_IMAGE_KEY",
    "OBS_STATE_KEY",
    "SPLITS",
    "STATE_DIM",
    "TASKS",
    "AvatarLook",
    "EnvConfig",
    "ManipulationEnv",
    "SimError",
    "Variation",
    "check_split",
    "check_task",
    "human_demo",
    "make_env",
    "object_split",
    "robot_demo",
    "sample_look",
    "sample_variation",
]
