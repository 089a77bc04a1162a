import lightning as L
import numpy as np
import pytest
import torch
from gymnasium import spaces
from test_ppo import TINY, fit
from torch.distributions import Categorical, Independent, Normal

import lit_rl
from lit_rl.networks import ActorCritic

VECTOR = spaces.Box(-np.inf, np.inf, (4,), np.float32)
FRAMES = spaces.Box(0, 255, (4, 84, 84), np.uint8)


def test_mlp_categorical_policy_with_orthogonal_init():
    policy = ActorCritic(VECTOR, spaces.Discrete(3), hidden_sizes=(64, 64))
    dist, values = policy(torch.randn(5, 4))
    assert dist.probs.shape == (5, 3) and values.shape == (5,)
    # Orthogonal rows scaled by the gain: W W^T = gain^2 I (0.01 for the policy head: near-uniform start).
    w = policy.actor_head.weight
    torch.testing.assert_close(w @ w.T, 0.01**2 * torch.eye(3), atol=1e-7, rtol=1e-4)
    w = policy.actor_body[1].weight  # first hidden layer, gain sqrt(2)
    torch.testing.assert_close(w.T @ w, 2.0 * torch.eye(4), atol=1e-4, rtol=1e-4)
    assert not policy.actor_head.bias.any()
    assert torch.allclose(dist.probs, torch.full((5, 3), 1 / 3), atol=0.05)


def test_gaussian_policy_has_a_state_independent_log_std_and_a_mean_greedy_action():
    policy = ActorCritic(VECTOR, spaces.Box(-2, 2, (2,), np.float32), log_std_init=-0.5)
    dist, _ = policy(torch.randn(5, 4))
    assert dist.sample().shape == (5, 2) and dist.log_prob(torch.zeros(5, 2)).shape == (5,)
    torch.testing.assert_close(dist.stddev, torch.full((5, 2), float(np.exp(-0.5))))
    torch.testing.assert_close(ActorCritic.greedy(dist), dist.mean)


def test_frames_share_one_nature_cnn_trunk():
    policy = ActorCritic(FRAMES, spaces.Discrete(6))
    dist, values = policy(torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8))
    assert dist.probs.shape == (2, 6) and values.shape == (2,)
    assert policy.actor_head is policy.trunk.head and policy.actor_body is None
    torch.testing.assert_close(policy.value(torch.zeros(1, 4, 84, 84, dtype=torch.uint8)), policy.critic_head.bias)


def test_unsupported_action_space_is_a_clear_error():
    with pytest.raises(ValueError, match="use Discrete or a 1-D Box"):
        ActorCritic(VECTOR, spaces.MultiBinary(3))


def test_a_gaussian_policy_checkpoint_loads_without_an_env(tmp_path):
    L.seed_everything(0)
    module = lit_rl.PPO("Pendulum-v1", num_envs=2, num_steps=16, total_env_steps=32, **TINY)
    trainer = fit(module)
    trainer.save_checkpoint(tmp_path / "pendulum.ckpt")
    loaded = lit_rl.PPO.load_from_checkpoint(tmp_path / "pendulum.ckpt")
    obs = np.random.default_rng(0).normal(size=(3, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.act_greedy(obs), module.act_greedy(obs))
    assert loaded.action_space.high.tolist() == [2.0] and loaded.env_steps == 32


def test_sampling_draws_from_the_given_generator_with_the_policy_distribution():
    torch.manual_seed(0)
    categorical = Categorical(probs=torch.tensor([[0.2, 0.5, 0.3]]).expand(20_000, 3))
    gaussian = Independent(Normal(torch.tensor([[1.0, -2.0]]).expand(20_000, 2), torch.tensor([0.5, 2.0])), 1)
    for dist in (categorical, gaussian):
        first = ActorCritic.sample(dist, torch.Generator().manual_seed(1))
        again = ActorCritic.sample(dist, torch.Generator().manual_seed(1))
        other = ActorCritic.sample(dist, torch.Generator().manual_seed(2))
        assert torch.equal(first, again) and not torch.equal(first, other)
    # 20,000 draws: frequencies within 0.015 of the probabilities (> 5 standard errors), moments within 0.05.
    frequencies = torch.bincount(ActorCritic.sample(categorical, torch.Generator().manual_seed(3)), minlength=3) / 20_000
    torch.testing.assert_close(frequencies, torch.tensor([0.2, 0.5, 0.3]), atol=0.015, rtol=0)
    draws = ActorCritic.sample(gaussian, torch.Generator().manual_seed(3))
    torch.testing.assert_close(draws.mean(0), torch.tensor([1.0, -2.0]), atol=0.05, rtol=0)
    torch.testing.assert_close(draws.std(0), torch.tensor([0.5, 2.0]), atol=0.05, rtol=0)
