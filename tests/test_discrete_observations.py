"""Discrete observations (FrozenLake, Taxi, CliffWalking) reach every algorithm one-hot encoded."""

import lightning as L
import numpy as np
import pytest
from conftest import TINY, fit
from gymnasium import spaces

import lit_rl
from lit_rl.envs import make_vector_env, one_hot

FROZEN_LAKE = {"map_name": "4x4", "is_slippery": False}


def test_one_hot_encodes_each_state_as_its_own_unit_vector():
    np.testing.assert_array_equal(one_hot(np.array([2, 0]), spaces.Discrete(3)), [[0, 0, 1], [1, 0, 0]])
    # A space that starts elsewhere than 0 (Discrete(3, start=-1) holds -1, 0, 1).
    np.testing.assert_array_equal(one_hot(np.array([-1, 1]), spaces.Discrete(3, start=-1)), [[1, 0, 0], [0, 0, 1]])
    assert one_hot(5, spaces.Discrete(16)).shape == (16,) and one_hot(5, spaces.Discrete(16))[5] == 1
    with pytest.raises(ValueError, match=r"observations .*16.* are not all in Discrete\(16\)"):
        one_hot(np.array([3, 16]), spaces.Discrete(16))


@pytest.mark.parametrize(("env_id", "n"), [("FrozenLake-v1", 16), ("Taxi-v4", 500), ("CliffWalking-v1", 48)])
def test_make_vector_env_gives_one_hot_float32_observations(env_id, n):
    env = make_vector_env(env_id, 2)
    assert env.single_observation_space == spaces.Box(0.0, 1.0, (n,), np.float32)
    obs, _ = env.reset(seed=0)
    for _ in range(3):
        assert obs.shape == (2, n) and obs.dtype == np.float32
        np.testing.assert_array_equal(obs.sum(axis=1), 1.0)
        assert env.observation_space.contains(obs)
        obs, *_ = env.step(env.action_space.sample())
    env.close()


def test_frozen_lake_one_hot_state_is_the_agents_cell():
    env = make_vector_env("FrozenLake-v1", 1, FROZEN_LAKE)
    obs, _ = env.reset(seed=0)
    assert obs[0].argmax() == 0  # top-left corner
    obs, *_ = env.step(np.array([2]))  # RIGHT
    assert obs[0].argmax() == 1
    obs, *_ = env.step(np.array([1]))  # DOWN
    assert obs[0].argmax() == 5
    env.close()


@pytest.mark.parametrize(
    ("algorithm", "kwargs"),
    [
        (lit_rl.DQN, dict(hidden_sizes=[8], batch_size=8, learning_starts=8, eval_episodes=2, eval_interval=10**9)),
        (lit_rl.Reinforce, dict(num_envs=2, num_steps=16, **TINY)),
        (lit_rl.A2C, dict(num_envs=2, num_steps=16, **TINY)),
        (lit_rl.PPO, dict(num_envs=2, num_steps=16, **TINY)),
    ],
)
def test_every_algorithm_fits_frozen_lake_and_its_checkpoint_acts_on_one_hot_states(algorithm, kwargs, tmp_path):
    L.seed_everything(0)
    module = algorithm("FrozenLake-v1", env_kwargs=FROZEN_LAKE, total_env_steps=64, **kwargs)
    trainer = fit(module)
    assert "eval/episodic_return" in trainer.callback_metrics
    trainer.save_checkpoint(tmp_path / "frozen_lake.ckpt")
    loaded = algorithm.load_from_checkpoint(tmp_path / "frozen_lake.ckpt")  # no env is created
    states = one_hot(np.arange(16), spaces.Discrete(16))  # how a deployed agent encodes the raw env's states
    greedy = "act" if algorithm is lit_rl.DQN else "act_greedy"  # DQN.act is greedy at its default epsilon=0
    np.testing.assert_array_equal(getattr(loaded, greedy)(states), getattr(module, greedy)(states))


@pytest.mark.parametrize("algorithm", [lit_rl.DQN, lit_rl.PPO])
def test_other_non_box_observations_are_refused_with_a_clear_error(algorithm):
    module = algorithm("Blackjack-v1", total_env_steps=64, eval_episodes=1)  # Tuple observations
    with pytest.raises(ValueError, match=r"observation space Tuple\(.*\) is not supported: .* take Box"):
        fit(module)


def test_ppo_learns_to_cross_frozen_lake():
    # Random play reaches the goal in ~1.5% of episodes; the greedy policy must reach it (return 1)
    # after 8,192 env steps (59 of 60 seeds did; ~4 s on a busy 2-core machine).
    L.seed_everything(0)
    agent = lit_rl.PPO(
        "FrozenLake-v1", env_kwargs=FROZEN_LAKE, num_envs=4, num_steps=64, total_env_steps=8192,
        hidden_sizes=[32], learning_rate=3e-3, anneal_lr=False, eval_episodes=1, eval_interval=10**9,
    )  # fmt: skip
    trainer = fit(agent)
    assert trainer.callback_metrics["eval/episodic_return"] == 1.0
