"""Under mixed precision the bootstrap value at a rollout's end is computed as the rollout's own values were."""

import lightning as L
import numpy as np
import pytest
import torch
from conftest import TINY

import lit_rl


@pytest.mark.parametrize(
    "algorithm",
    [
        lit_rl.PPO,
        lit_rl.A2C,
        lit_rl.Reinforce,
    ],
)
def test_bf16_bootstrap_value_equals_the_rollouts_value_of_the_same_observations_bit_for_bit(algorithm):
    L.seed_everything(0, verbose=False)
    module = algorithm(num_envs=4, num_steps=8, total_env_steps=64, **TINY)
    module.trainer = L.Trainer(max_epochs=-1, precision="bf16-mixed", logger=False, enable_progress_bar=False)
    module.setup("fit")
    obs = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)
    values = module.act(obs)[3]  # as the rollout computes them, under the Trainer's precision
    bootstrap = []
    module.rollout_buffer.compute_returns = lambda next_value, *args, **kwargs: bootstrap.append(next_value)
    module.finish_rollout(obs)
    assert torch.equal(bootstrap[0], values)
