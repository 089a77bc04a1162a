import doctest
import math

import pytest
import torch

import lit_rl.distributional
from lit_rl.checks import ConfigurationError
from lit_rl.distributional import (
    categorical_cross_entropy,
    categorical_kl_divergence,
    categorical_next_probs,
    categorical_projection,
    categorical_q_values,
    categorical_support,
    gather_actions,
    quantile_huber_loss,
    quantile_next_quantiles,
    quantile_q_values,
    quantile_targets,
)

# Five atoms one apart, so every moved atom's fractional index is exact in float32.
SUPPORT = categorical_support(5, -2.0, 2.0)  # [-2, -1, 0, 1, 2]
P = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.0])


def project(probs, rewards, terminated, gamma, n_steps=None):
    rows = len(rewards)
    return categorical_projection(
        torch.as_tensor(probs).expand(rows, -1),
        torch.tensor(rewards),
        torch.tensor(terminated),
        gamma,
        None if n_steps is None else torch.tensor(n_steps, dtype=torch.uint8),
        SUPPORT,
    )


def test_docstring_examples():
    assert doctest.testmod(lit_rl.distributional).failed == 0


def test_support_spans_v_min_to_v_max_and_rejects_bad_values():
    support = categorical_support(51, -10.0, 10.0)
    assert support.shape == (51,) and support[0] == -10.0 and support[-1] == 10.0
    with pytest.raises(ConfigurationError, match="num_atoms=1"):
        categorical_support(1, -10.0, 10.0)
    with pytest.raises(ConfigurationError, match="v_min=10.0, v_max=-10.0"):
        categorical_support(51, 10.0, -10.0)


def test_terminal_transition_is_the_reward_alone_split_between_its_two_atoms():
    # Tz = r for every atom, whatever s' predicts: 0.5 goes half to z=0, half to z=1; -1.25 is 3/4 z=-1, 1/4 z=-2.
    targets = project(P, [0.5, -1.25], [True, True], gamma=0.99)
    torch.testing.assert_close(targets[0], torch.tensor([0.0, 0.0, 0.5, 0.5, 0.0]))
    torch.testing.assert_close(targets[1], torch.tensor([0.25, 0.75, 0.0, 0.0, 0.0]))


def test_truncated_transition_bootstraps():
    # terminated=False (a time-limit truncation): r=0, gamma=1 keeps the distribution of s'.
    torch.testing.assert_close(project(P, [0.0], [False], gamma=1.0)[0], P)


def test_atoms_beyond_v_max_are_clipped_onto_the_top_atom():
    # Tz = 1.5 + z = [-0.5, 0.5, 1.5, 2.5, 3.5] -> clipped [-0.5, 0.5, 1.5, 2, 2]
    # -0.5: 0.05 to z=-1, 0.05 to z=0 ; 0.5: 0.1 to z=0, 0.1 to z=1 ; 1.5: 0.15 to z=1, 0.15 to z=2 ; 2: 0.4 to z=2
    targets = project(P, [1.5], [False], gamma=1.0)
    torch.testing.assert_close(targets[0], torch.tensor([0.0, 0.05, 0.15, 0.25, 0.55]))


def test_atoms_below_v_min_are_clipped_onto_the_bottom_atom():
    # Tz = -1.5 + z = [-3.5, -2.5, -1.5, -0.5, 0.5] -> clipped [-2, -2, -1.5, -0.5, 0.5]
    # -2: 0.1 + 0.2 to z=-2 ; -1.5: 0.15 to z=-2, 0.15 to z=-1 ; -0.5: 0.2 to z=-1, 0.2 to z=0 ; 0.5 carries 0
    targets = project(P, [-1.5], [False], gamma=1.0)
    torch.testing.assert_close(targets[0], torch.tensor([0.45, 0.35, 0.2, 0.0, 0.0]))


def test_n_step_transitions_discount_the_next_distribution_by_gamma_to_the_n():
    # All of s' on z=2; r=0.25, gamma=0.5. n=2: Tz = 0.25 + 0.25 * 2 = 0.75 ; n=1: Tz = 0.25 + 0.5 * 2 = 1.25.
    next_probs = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0])
    targets = project(next_probs, [0.25, 0.25], [False, False], gamma=0.5, n_steps=[2, 1])
    torch.testing.assert_close(targets[0], torch.tensor([0.0, 0.0, 0.25, 0.75, 0.0]))
    torch.testing.assert_close(targets[1], torch.tensor([0.0, 0.0, 0.0, 0.75, 0.25]))


def test_atoms_landing_exactly_on_an_atom_keep_all_their_mass():
    # Tz = 1 + z = [-1, 0, 1, 2, 3] -> [-1, 0, 1, 2, 2]: every moved atom lands on an atom
    # (floor == ceil), where a floor/ceil scatter would drop its mass. A terminal reward of 1 is atom z=1.
    targets = project(P, [1.0, 1.0], [False, True], gamma=1.0)
    torch.testing.assert_close(targets[0], torch.tensor([0.0, 0.1, 0.2, 0.3, 0.4]))
    torch.testing.assert_close(targets[1], torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0]))
    # Tz = 0.5 z = [-1, -0.5, 0, 0.5, 1]: three atoms land on atoms, two between.
    # -1: 0.1 to z=-1 ; -0.5: 0.1 to z=-1, 0.1 to z=0 ; 0: 0.3 to z=0 ; 0.5: 0.2 to z=0, 0.2 to z=1
    targets = project(P, [0.0], [False], gamma=0.5)
    torch.testing.assert_close(targets[0], torch.tensor([0.0, 0.2, 0.6, 0.2, 0.0]))


def test_projection_conserves_probability_mass_and_the_mean_inside_the_support():
    generator = torch.Generator().manual_seed(0)
    batch, num_atoms = 256, 51
    support = categorical_support(num_atoms, -10.0, 10.0)
    next_probs = torch.randn(batch, num_atoms, generator=generator).mul(3).softmax(-1)
    rewards = torch.randn(batch, generator=generator) * 15  # many rows clip at one bound or both
    terminated = torch.rand(batch, generator=generator) < 0.3
    n_steps = torch.randint(1, 4, (batch,), generator=generator)
    targets = categorical_projection(next_probs, rewards, terminated, 0.9, n_steps, support)
    assert targets.min() >= 0
    torch.testing.assert_close(targets.sum(-1), torch.ones(batch))
    # Without clipping, splitting mass linearly between neighbours keeps the expected return exactly.
    small = torch.rand(batch, generator=generator) - 0.5
    targets = categorical_projection(next_probs, small, terminated, 0.9, n_steps, support)
    expected = small + 0.9 ** n_steps.float() * (~terminated).float() * categorical_q_values(next_probs, support)
    torch.testing.assert_close(categorical_q_values(targets, support), expected)


def test_projection_rejects_a_support_of_the_wrong_size():
    with pytest.raises(ValueError, match=r"support of shape \(5,\) does not fit next_probs of shape \(1, 4\)"):
        categorical_projection(
            torch.full((1, 4), 0.25), torch.zeros(1), torch.zeros(1, dtype=torch.bool), 0.9, None, SUPPORT
        )


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_targets_are_float32_under_low_precision(dtype):
    targets = categorical_projection(
        P.to(dtype).unsqueeze(0), torch.ones(1, dtype=dtype), torch.tensor([False]), 0.99, None, SUPPORT
    )
    assert targets.dtype == torch.float32
    assert (
        quantile_targets(torch.ones(1, 3, dtype=dtype), torch.ones(1, dtype=dtype), torch.tensor([False]), 0.99).dtype
        == torch.float32
    )


def test_categorical_loss_values_and_gradient_into_the_online_logits_only():
    logits = torch.tensor([[0.0, math.log(2.0), 0.0]], requires_grad=True)  # probabilities 0.25, 0.5, 0.25
    target = torch.tensor([[0.5, 0.5, 0.0]], requires_grad=True)
    log_probs = logits.log_softmax(-1)
    cross_entropy = categorical_cross_entropy(log_probs, target)
    # -(0.5 ln 0.25 + 0.5 ln 0.5) = 1.5 ln 2 ; KL = cross-entropy - entropy(target) = 1.5 ln 2 - ln 2
    torch.testing.assert_close(cross_entropy, torch.tensor([1.5 * math.log(2.0)]))
    torch.testing.assert_close(categorical_kl_divergence(log_probs, target), torch.tensor([0.5 * math.log(2.0)]))
    cross_entropy.sum().backward()
    torch.testing.assert_close(logits.grad, torch.tensor([[0.25 - 0.5, 0.5 - 0.5, 0.25 - 0.0]]))  # softmax - target
    assert target.grad is None


def test_gather_actions_picks_each_rows_action():
    dist = torch.arange(12.0).reshape(2, 3, 2)
    torch.testing.assert_close(gather_actions(dist, torch.tensor([2, 0])), torch.tensor([[4.0, 5.0], [6.0, 7.0]]))


def test_double_dqn_takes_the_target_distribution_at_the_online_argmax():
    # Target network: action 0 has the larger mean (z=2); online network prefers action 1.
    target = torch.tensor([[[0.0, 0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0, 0.0]]])
    online = target.flip(1)
    torch.testing.assert_close(categorical_next_probs(target, SUPPORT), target[:, 0])
    torch.testing.assert_close(categorical_next_probs(target, SUPPORT, online), target[:, 1])
    quantiles_target = torch.tensor([[[3.0, 5.0], [0.0, 1.0]]])  # means 4 and 0.5
    quantiles_online = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])
    torch.testing.assert_close(quantile_q_values(quantiles_target), torch.tensor([[4.0, 0.5]]))
    torch.testing.assert_close(quantile_next_quantiles(quantiles_target), quantiles_target[:, 0])
    torch.testing.assert_close(quantile_next_quantiles(quantiles_target, quantiles_online), quantiles_target[:, 1])


def test_quantile_targets_discount_by_gamma_to_the_n_and_stop_at_termination():
    next_quantiles = torch.tensor([[-1.0, 1.0, 3.0]]).expand(3, 3)
    rewards = torch.tensor([1.0, 1.0, 2.0])
    terminated = torch.tensor([False, False, True])
    targets = quantile_targets(next_quantiles, rewards, terminated, 0.5, torch.tensor([1, 2, 1], dtype=torch.uint8))
    expected = torch.tensor([[0.5, 1.5, 2.5], [0.75, 1.25, 1.75], [2.0, 2.0, 2.0]])
    torch.testing.assert_close(targets, expected)


# Online quantiles theta = [0, 1] at tau_hat = [1/4, 3/4]; target quantiles [0, 2, -1].
# u = target - theta: row 0 [0, 2, -1], row 1 [-1, 1, -2]; weights |tau_hat - 1{u<0}|: [1/4, 1/4, 3/4], [1/4, 3/4, 1/4].
THETA = torch.tensor([[0.0, 1.0]])
TARGET = torch.tensor([[0.0, 2.0, -1.0]])


@pytest.mark.parametrize(
    "kappa, expected",
    [
        # Huber (kappa 1): [0, 1.5, 0.5], [0.5, 0.5, 1.5] -> means 0.75/3, 0.875/3 -> sum 13/24
        (1.0, 13 / 24),
        # kappa 2, divided by 2: [0, 1, 0.25], [0.25, 0.25, 1] -> means 0.4375/3, 0.5/3 -> sum 0.3125
        (2.0, 0.3125),
        # kappa 0, |u|: [0, 2, 1], [1, 1, 2] -> means 1.25/3, 1.5/3 -> sum 2.75/3
        (0.0, 2.75 / 3),
    ],
)
def test_quantile_huber_loss_by_hand(kappa, expected):
    torch.testing.assert_close(quantile_huber_loss(THETA, TARGET, kappa), torch.tensor([expected]))


def test_quantile_huber_loss_is_per_sample():
    quantiles = torch.cat([THETA, torch.tensor([[5.0, 5.0]])])
    targets = torch.cat([TARGET, torch.tensor([[5.0, 5.0, 5.0]])])
    torch.testing.assert_close(quantile_huber_loss(quantiles, targets), torch.tensor([13 / 24, 0.0]))


def test_quantile_huber_loss_gradient_flows_into_the_online_quantiles_only():
    theta = THETA.clone().requires_grad_()
    target = TARGET.clone().requires_grad_()
    quantile_huber_loss(theta, target).sum().backward()
    # d/dtheta_i = -mean_j w_ij clip(u_ij, -1, 1): row 0 -(0 + 1/4 - 3/4)/3 = 1/6 ; row 1 -(-1/4 + 3/4 - 1/4)/3 = -1/12
    torch.testing.assert_close(theta.grad, torch.tensor([[1 / 6, -1 / 12]]))
    assert target.grad is None


def test_quantile_huber_loss_rejects_a_negative_kappa():
    with pytest.raises(ConfigurationError, match="kappa=-1.0"):
        quantile_huber_loss(THETA, TARGET, kappa=-1.0)
