"""TD3's pieces: the smoothing noise's clip, the clipped double-Q target, the delayed updates."""

import lightning as L
import numpy as np
import pytest
import torch
from conftest import fit
from gymnasium import spaces
from test_sac import FixedCritics, batch

import lit_rl
from lit_rl.target_policy_smoothing import smoothed_target_actions


def test_smoothing_noise_is_clipped_and_actions_stay_in_bounds():
    target_actions = torch.tensor([[0.0, 0.95, -0.95]]).repeat(20_000, 1)
    generator = torch.Generator().manual_seed(0)
    smoothed = smoothed_target_actions(target_actions, noise_std=0.4, noise_clip=0.5, generator=generator)
    noise = smoothed[:, 0]
    assert noise.abs().max().item() == pytest.approx(0.5)  # std 0.4: many draws beyond 0.5 are clipped to it
    assert (noise.abs() == 0.5).float().mean() > 0.15  # P(|N(0, 0.4)| > 0.5) = 0.21
    assert smoothed[:, 1].max() == 1.0 and smoothed[:, 2].min() == -1.0  # clamped to [-1, 1]
    # The clipped normal's spread, not 0.4: E[x^2] = s^2 (2 Phi(z) - 1 - 2 z phi(z)) + c^2 * 2 (1 - Phi(z)) with
    # z = c / s = 1.25 gives 0.16 * 0.33208 + 0.25 * 0.21130 = 0.10596, a standard deviation of 0.3255.
    assert noise.std().item() == pytest.approx(0.3255, abs=0.005)


def test_no_smoothing_noise_gives_the_target_action_itself():
    actions = torch.tensor([[0.3, -0.7]])
    assert smoothed_target_actions(actions, 0.0, 0.5) is actions


class FixedActor(torch.nn.Module):
    def __init__(self, actions):
        super().__init__()
        self.actions = torch.tensor(actions)

    def forward(self, obs):
        return self.actions


@pytest.mark.parametrize(("twin", "expected_next"), [(True, [3.0, 1.0, 4.0]), (False, [5.0, 1.0, 4.0])])
def test_target_takes_the_smaller_of_twin_critics_and_bootstraps_truncation_only(twin, expected_next):
    td3 = lit_rl.TD3(gamma=0.5, target_policy_noise=0.0, twin_critics=twin)
    td3.build_networks(spaces.Box(-1, 1, (3,)), spaces.Box(-1, 1, (1,), dtype=np.float32))
    td3.target_actor = FixedActor([[0.1], [0.2], [0.3]])
    td3.target_critics = FixedCritics([[5.0, 1.0, 4.0], [3.0, 2.0, 6.0]] if twin else [[5.0, 1.0, 4.0]])
    transitions = batch([1.0, 1.0, 1.0], terminated=[False, True, False], truncated=[False, False, True])
    targets = td3.critic_targets(transitions)
    expected = torch.tensor([1 + 0.5 * expected_next[0], 1.0, 1 + 0.5 * expected_next[2]])
    torch.testing.assert_close(targets, expected)


@pytest.mark.parametrize("policy_frequency", [1, 2, 3])
def test_actor_and_targets_update_every_policy_frequency_gradient_steps(policy_frequency, monkeypatch):
    target_updates = []
    real_update = lit_rl.algorithms.td3.polyak_update
    monkeypatch.setattr(
        lit_rl.algorithms.td3, "polyak_update", lambda *args: target_updates.append(args[2]) or real_update(*args)
    )
    L.seed_everything(0)
    td3 = lit_rl.TD3(
        total_env_steps=64 + 12, learning_starts=64, batch_size=16, hidden_sizes=[8], eval_episodes=1,
        eval_interval=10**6, policy_frequency=policy_frequency, gradient_steps=2, train_frequency=2,
    )
    fit(td3)
    assert td3.gradient_updates == 12  # 6 rounds of 2 vector-env steps, 2 gradient steps each
    optimizers = td3.trainer.optimizers
    critic_steps = {int(s["step"]) for s in optimizers[1].state.values()}
    actor_steps = {int(s["step"]) for s in optimizers[0].state.values()}
    assert critic_steps == {12} and actor_steps == {12 // policy_frequency}
    assert target_updates == [td3.hparams.tau] * (2 * 12 // policy_frequency)  # target actor and critics
