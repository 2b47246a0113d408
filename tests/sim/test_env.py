"""ManipulationEnv: observation/action contract, fixed episode length, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import sim


@pytest.fixture(scope="module")
def push_env():
    with sim.make_env("push") as env:
        yield env


def _variation(task: str, seed: int = 0) -> sim.Variation:
    return sim.sample_variation(task, "train", np.random.default_rng(seed))


def test_observation_and_step_contract(push_env) -> None:
    obs, info = push_env.reset(seed=1, variation=_variation("push"))
    assert set(obs) == {sim.OBS_IMAGE_KEY, sim.OBS_STATE_KEY}
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert obs["state"].shape == (sim.STATE_DIM,) and obs["state"].dtype == np.float32
    assert 0.0 <= obs["state"][3] <= 0.081  # finger gap, open at reset
    assert isinstance(info["success"], bool)
    action = np.array([0.5, 0.0, -0.2, 1.0], dtype=np.float32)
    obs, reward, terminated, truncated, info = push_env.step(action)
    assert obs["image"].dtype == np.uint8 and obs["state"].dtype == np.float32
    assert isinstance(reward, float) and terminated is False and truncated is False
    assert info["step"] == 1


def test_action_moves_end_effector_by_at_most_max_step(push_env) -> None:
    obs, _ = push_env.reset(seed=2, variation=_variation("push"))
    before = obs["state"][:3].copy()
    obs, *_ = push_env.step(np.array([5.0, 0.0, 0.0, -1.0]))  # clipped to +1
    moved = obs["state"][:3] - before
    assert 0.5 * sim.MAX_EE_STEP_M < moved[0] <= sim.MAX_EE_STEP_M * 1.05
    assert abs(moved[1]) < 0.01 and abs(moved[2]) < 0.01


def test_episode_has_exactly_t_steps_then_needs_reset(push_env) -> None:
    push_env.reset(seed=4, variation=_variation("push"))
    truncations = [push_env.step(np.zeros(4))[3] for _ in range(push_env.episode_steps)]
    assert truncations == [False] * (push_env.episode_steps - 1) + [True]
    with pytest.raises(sim.SimError, match="reset"):
        push_env.step(np.zeros(4))


def test_same_seed_and_variation_give_identical_frames() -> None:
    variation = _variation("pick_place", seed=5)
    runs = []
    for _ in range(2):
        with sim.make_env("pick_place") as env:
            obs, _ = env.reset(seed=11, variation=variation)
            frames = [obs["image"]]
            for t in range(8):
                action = np.array([np.sin(t), np.cos(t), -0.5, float(t > 4) * 2 - 1])
                frames.append(env.step(action)[0]["image"])
            runs.append(np.stack(frames))
    assert runs[0].tobytes() == runs[1].tobytes()


def test_reset_without_variation_samples_one_from_the_seed(push_env) -> None:
    _, first = push_env.reset(seed=9)
    _, again = push_env.reset(seed=9)
    assert first["variation"] == again["variation"]
    assert set(first["variation"].object_ids) <= set(sim.object_split("train"))


def test_image_px_is_configurable() -> None:
    with sim.make_env("push", sim.EnvConfig(image_px=32, episode_steps=5)) as env:
        obs, _ = env.reset(seed=0)
        assert obs["image"].shape == (32, 32, 3)
        assert env.episode_steps == 5


@pytest.mark.parametrize(
    "kwargs",
    [{"image_px": 8}, {"control_hz": 7}, {"episode_steps": 0}, {"solver_iterations": 0}],
)
def test_bad_config_raises(kwargs: dict) -> None:
    with pytest.raises(sim.SimError):
        sim.EnvConfig(**kwargs)


def test_unknown_task_names_the_choices() -> None:
    with pytest.raises(sim.SimError, match="pick_place, push"):
        sim.make_env("stack")


def test_bad_action_and_wrong_variation_raise(push_env) -> None:
    push_env.reset(seed=0)
    with pytest.raises(sim.SimError, match="4 finite floats"):
        push_env.step(np.zeros(3))
    with pytest.raises(sim.SimError, match="4 finite floats"):
        push_env.step(np.array([np.nan, 0, 0, 0]))
    with pytest.raises(sim.SimError, match="push"):
        push_env.reset(variation=_variation("pick_place"))


def test_settings_and_misuse_are_sim_errors_not_broken_physics():
    """(audit, session 54) A negative or fractional rate, a closed env, a step after a human
    demo without a reset and a negative seed are SimErrors, not silent nonsense."""
    from sim.errors import SimError

    for bad in ({"physics_hz": -160}, {"physics_hz": 0}, {"control_hz": 2.5},
                {"episode_steps": 2.5}, {"image_px": 64.5}):  # fmt: skip
        with pytest.raises(SimError):
            sim.EnvConfig(**bad)
    assert sim.EnvConfig(control_hz=np.int64(10)).control_hz == 10  # numpy ints are whole
    with sim.make_env("push", sim.EnvConfig(image_px=32)) as env:
        variation = sim.sample_variation("push", "train", np.random.default_rng(0))
        look = sim.sample_look("train", np.random.default_rng(0))
        sim.human_demo(env, variation, look, seed=0)
        with pytest.raises(SimError, match="call env.reset"):
            env.step(np.zeros(4))
        with pytest.raises(SimError, match="seed=-1 must be a whole number >= 0"):
            env.reset(seed=-1)
    with pytest.raises(SimError, match="this env is closed"):
        env.reset(seed=0)


def test_samplers_take_a_numpy_generator_and_say_so_otherwise():
    """An int seed or None where a Generator goes is a TypeError naming the fix, not an
    AttributeError from inside numpy."""
    for bad in (0, None, np.random):
        with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
            sim.sample_variation("push", "train", bad)
        with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
            sim.sample_look("train", bad)
