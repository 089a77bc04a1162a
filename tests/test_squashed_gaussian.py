"""SAC's tanh-squashed Gaussian: its log-probability is the change of variables of the Gaussian's."""

import math

import torch

from lit_rl.squashed_gaussian import squashed_gaussian_log_prob, squashed_gaussian_sample, tanh_log_abs_det_jacobian


def numerical_log_density(actions, mean, std):
    """log p(a) for a = tanh(u), u ~ N(mean, std): p_u(atanh a) / |d tanh/du|, with a finite-difference derivative."""
    u = torch.atanh(actions)
    h = 1e-4
    derivative = (torch.tanh(u + h) - torch.tanh(u - h)) / (2 * h)
    gaussian = torch.distributions.Normal(mean, std).log_prob(u)
    return (gaussian - derivative.log()).sum(-1)


def test_log_prob_matches_a_numerical_change_of_variables():
    torch.manual_seed(0)
    mean = torch.tensor([[0.3, -1.2], [2.0, 0.0]], dtype=torch.float64)
    log_std = torch.tensor([[-0.5, 0.2], [0.1, -1.0]], dtype=torch.float64)
    actions, log_probs = squashed_gaussian_sample(mean, log_std)
    expected = numerical_log_density(actions, mean, log_std.exp())
    torch.testing.assert_close(log_probs, expected, rtol=1e-6, atol=1e-6)


def test_density_integrates_to_one_over_the_squashed_interval():
    a = torch.linspace(-1 + 1e-7, 1 - 1e-7, 400_001, dtype=torch.float64).unsqueeze(1)
    u = torch.atanh(a)
    density = squashed_gaussian_log_prob(u, torch.tensor([[0.7]], dtype=torch.float64), torch.tensor([[-0.3]])).exp()
    assert abs(torch.trapezoid(density, a.squeeze(1)).item() - 1.0) < 1e-4


def test_the_jacobian_term_stays_finite_where_tanh_rounds_to_one():
    u = torch.tensor([[0.0, 5.0, 20.0, -40.0]])
    direct = torch.log(1 - torch.tanh(u.double()) ** 2).sum()  # float64 still resolves |u| <= 18
    stable = tanh_log_abs_det_jacobian(u)
    assert torch.isfinite(stable).all()
    # log(1 - tanh(u)^2) = log 4 - 2|u| - 2 log(1 + exp(-2|u|)): about -2|u| + log 4 for large |u|
    expected = sum(math.log(4) - 2 * abs(x) - 2 * math.log1p(math.exp(-2 * abs(x))) for x in [0.0, 5.0, 20.0, -40.0])
    assert abs(stable.item() - expected) < 1e-4
    assert torch.isinf(direct) or direct.item() < -50  # the direct formula loses the large terms


def test_samples_lie_in_the_open_interval_and_carry_gradients_to_mean_and_log_std():
    mean = torch.zeros(4096, 3, requires_grad=True)
    log_std = torch.full((4096, 3), 0.5, requires_grad=True)
    generator = torch.Generator().manual_seed(1)
    actions, log_probs = squashed_gaussian_sample(mean, log_std, generator)
    assert (actions.abs() <= 1).all()
    (actions.sum() + log_probs.sum()).backward()
    assert mean.grad.abs().sum() > 0 and log_std.grad.abs().sum() > 0
    again, _ = squashed_gaussian_sample(mean.detach(), log_std.detach(), torch.Generator().manual_seed(1))
    assert torch.equal(actions.detach(), again)  # reproducible per generator
