"""sim: the PyBullet manipulation task family (pick_place, push), demonstrators and camera.

Never imports torch or daml. The public API is listed in docs/ARCHITECTURE.md.
"""

# Observation/action contract shared with `daml` (docs/ARCHITECTURE.md; tests/test_contract.py).
OBS_IMAGE_KEY = "image"
OBS_STATE_KEY = "state"
STATE_DIM = 4
ACTION_DIM = 4
