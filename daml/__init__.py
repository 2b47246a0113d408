"""daml: one-shot imitation of a human video by domain-adaptive meta-learning (Yu et al., RSS 2018).

`import daml` stays light: it imports neither pybullet, roslibpy nor OpenCV.
"""

__version__ = "0.1.0"

# Observation/action contract shared with `sim` (see docs/ARCHITECTURE.md); pinned by
# tests/test_contract.py, never imported across packages.
OBS_IMAGE_KEY = "image"
OBS_STATE_KEY = "state"
STATE_DIM = 4
ACTION_DIM = 4
