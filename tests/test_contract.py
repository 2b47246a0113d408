"""sim and daml agree on the observation/action contract without importing each other."""

import numpy as np

import daml
import sim


def test_constants_match():
    for name in ("OBS_IMAGE_KEY", "OBS_STATE_KEY", "STATE_DIM", "ACTION_DIM"):
        assert getattr(daml, name) == getattr(sim, name), name


def test_env_observation_and_action_follow_the_contract():
    with sim.make_env("push", sim.EnvConfig(image_px=32)) as env:
        obs, _ = env.reset(seed=0)
        assert set(obs) == {daml.OBS_IMAGE_KEY, daml.OBS_STATE_KEY}
        assert obs["image"].shape == (32, 32, 3) and obs["image"].dtype == np.uint8
        assert obs["state"].shape == (daml.STATE_DIM,) and obs["state"].dtype == np.float32
        obs, _, _, _, info = env.step(np.zeros(daml.ACTION_DIM, np.float32))
        assert isinstance(info["success"], bool)


def test_import_daml_stays_light():
    import subprocess
    import sys

    code = (
        "import sys, daml, daml.cli, daml.data; "
        "bad = [m for m in ('pybullet', 'roslibpy', 'cv2', 'sim', 'torch') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sim_never_imports_torch_or_daml():
    import subprocess
    import sys

    code = "import sys, sim; bad = [m for m in ('torch', 'daml') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
