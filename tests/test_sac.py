"""SAC's pieces on hand-computed values: the temperature's loss, the soft TD target, ent_coef parsing."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

import lit_rl
from lit_rl.entropy_temperature import entropy_temperature_loss
from lit_rl.replay_buffer import ReplayBatch


def test_temperature_loss_value_and_sign():
    log_alpha = torch.tensor(0.0, requires_grad=True)
    # target entropy -1; the policy's entropy estimate -mean(log pi) = -0.5 is above it
    loss = entropy_temperature_loss(log_alpha, torch.tensor([0.0, 1.0]), target_entropy=-1.0)
    loss.backward()
    # -log_alpha * mean(log pi + target) = -0 * (0.5 - 1) = 0; d/dlog_alpha = -(0.5 - 1) = 0.5 > 0
    assert loss.item() == 0.0
    assert log_alpha.grad.item() == pytest.approx(0.5)  # gradient descent lowers alpha: entropy is high enough


def test_temperature_rises_while_entropy_is_below_its_target():
    log_alpha = torch.tensor(0.0, requires_grad=True)
    optimizer = torch.optim.SGD([log_alpha], lr=0.1)
    low_entropy_log_probs = torch.full((8,), 2.0)  # entropy estimate -2 < target -1
    for _ in range(3):
        optimizer.zero_grad()
        entropy_temperature_loss(log_alpha, low_entropy_log_probs, target_entropy=-1.0).backward()
        optimizer.step()
    assert log_alpha.item() == pytest.approx(0.3)  # each step adds 0.1 * (2 - 1)


def test_the_temperature_loss_does_not_reach_the_policy():
    log_probs = torch.tensor([0.3, -0.2], requires_grad=True)
    entropy_temperature_loss(torch.tensor(0.5, requires_grad=True), log_probs, -2.0).backward()
    assert log_probs.grad is None


class FixedCritics(torch.nn.Module):
    def __init__(self, values):
        super().__init__()
        self.values = torch.tensor(values)

    def forward(self, obs, actions):
        return self.values


class FixedActor(torch.nn.Module):
    def __init__(self, log_probs):
        super().__init__()
        self.log_probs = torch.tensor(log_probs)

    def sample(self, obs, generator=None):
        return torch.zeros(len(obs), 1), self.log_probs


def batch(rewards, terminated, truncated):
    n = len(rewards)
    return ReplayBatch(
        obs=torch.zeros(n, 3), actions=torch.zeros(n, 1), rewards=torch.tensor(rewards),
        next_obs=torch.zeros(n, 3), terminated=torch.tensor(terminated), truncated=torch.tensor(truncated),
    )


def test_soft_target_takes_the_smaller_twin_minus_alpha_log_prob_and_bootstraps_truncation_only():
    sac = lit_rl.SAC(gamma=0.9, learning_starts=256)
    sac.build_networks(spaces.Box(-1, 1, (3,)), spaces.Box(-2, 2, (1,), dtype=np.float32))
    # target critics: rows are the two critics, columns the transitions
    sac.target_critics = FixedCritics([[5.0, 1.0, 4.0], [3.0, 2.0, 6.0]])
    sac.actor = FixedActor([0.5, -1.0, 2.0])
    targets = sac.critic_targets(
        batch([1.0, 0.0, 2.0], terminated=[False, True, False], truncated=[False, False, True]), torch.tensor(0.2)
    )
    # row 0: 1 + 0.9 * (min(5, 3) - 0.2 * 0.5) = 1 + 0.9 * 2.9; row 1 terminated: 0;
    # row 2 truncated, so it bootstraps: 2 + 0.9 * (min(4, 6) - 0.2 * 2) = 2 + 0.9 * 3.6
    torch.testing.assert_close(targets, torch.tensor([1 + 0.9 * 2.9, 0.0, 2 + 0.9 * 3.6]))


@pytest.mark.parametrize(
    ("ent_coef", "learned", "alpha"), [("auto", True, 1.0), ("auto_0.1", True, 0.1), (0.2, False, 0.2), (0, False, 0)]
)
def test_ent_coef_forms(ent_coef, learned, alpha):
    sac = lit_rl.SAC(ent_coef=ent_coef)
    assert sac.learn_alpha is learned
    assert sac.log_alpha.exp().item() == pytest.approx(alpha)
    assert isinstance(sac.log_alpha, torch.nn.Parameter) is learned


@pytest.mark.parametrize("ent_coef", ["auto_", "auto_-1", "fixed", -0.5])
def test_bad_ent_coef_is_refused(ent_coef):
    with pytest.raises(ValueError, match=f"ent_coef={ent_coef!r} is invalid: use a number >= 0"):
        lit_rl.SAC(ent_coef=ent_coef)
