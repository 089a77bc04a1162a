import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lit_rl.checks import ConfigurationError
from lit_rl.networks import MLP, NoisyLinear, noise_disabled, reset_noise
from lit_rl.networks.noisy_linear import scaled_noise


def test_initialisation_follows_the_paper():
    torch.manual_seed(0)
    layer = NoisyLinear(16, 5, sigma0=0.5)
    bound = 1 / math.sqrt(16)  # 0.25
    assert layer.weight_mu.abs().max() <= bound and layer.bias_mu.abs().max() <= bound
    assert layer.weight_mu.std() > bound / 3, "uniform over the whole interval, not near zero"
    assert torch.all(layer.weight_sigma == 0.125) and torch.all(layer.bias_sigma == 0.125)  # sigma0 / sqrt(p)


def test_factorised_noise_has_one_variable_per_input_and_per_output():
    layer = NoisyLinear(7, 3)
    assert layer.input_noise.shape == (7,) and layer.output_noise.shape == (3,)
    assert sorted(name for name, _ in layer.named_buffers()) == ["input_noise", "output_noise"]
    assert sum(p.numel() for p in layer.parameters()) == 2 * (7 * 3 + 3)


def test_noisy_output_matches_the_formula_by_hand():
    torch.manual_seed(0)
    layer = NoisyLinear(4, 3, sigma0=0.5)
    layer.reset_noise(torch.Generator().manual_seed(1))
    eps = torch.randn(7, generator=torch.Generator().manual_seed(1))  # 4 input then 3 output variables
    f_in, f_out = eps[:4].sign() * eps[:4].abs().sqrt(), eps[4:].sign() * eps[4:].abs().sqrt()
    weight = layer.weight_mu + layer.weight_sigma * f_out[:, None] * f_in[None, :]
    bias = layer.bias_mu + layer.bias_sigma * f_out
    x = torch.randn(5, 4)
    torch.testing.assert_close(layer(x), x @ weight.T + bias)
    torch.testing.assert_close(scaled_noise(torch.tensor([-4.0, 0.0, 9.0])), torch.tensor([-2.0, 0.0, 3.0]))


def test_eval_mode_and_noise_disabled_use_the_mean_weights():
    torch.manual_seed(0)
    layer = NoisyLinear(6, 4)
    x = torch.randn(3, 6)
    mean_output = F.linear(x, layer.weight_mu, layer.bias_mu)
    assert not torch.allclose(layer(x), mean_output), "train mode: noisy"
    with noise_disabled(layer):
        torch.testing.assert_close(layer(x), mean_output)
    assert layer.noise_enabled and not torch.allclose(layer(x), mean_output), "the context restores the noise"
    layer.eval()
    torch.testing.assert_close(layer(x), mean_output)
    layer.reset_noise()
    torch.testing.assert_close(layer(x), mean_output)


def test_reset_noise_changes_outputs_in_train_mode_and_only_then():
    torch.manual_seed(0)
    net = MLP(4, 2, (8, 8), noisy_nets=True)
    x = torch.randn(3, 4)
    before = net(x)
    torch.testing.assert_close(net(x), before, msg="no new noise without reset_noise")
    reset_noise(net)
    assert not torch.allclose(net(x), before)


def test_noise_is_reproducible_with_a_generator():
    torch.manual_seed(0)
    a = MLP(4, 2, (8, 8), noisy_nets=True)
    b = MLP(4, 2, (8, 8), noisy_nets=True)
    b.load_state_dict(a.state_dict())
    torch.manual_seed(123)  # the global stream must not matter
    reset_noise(a, torch.Generator().manual_seed(7))
    torch.manual_seed(456)
    reset_noise(b, torch.Generator().manual_seed(7))
    x = torch.randn(3, 4)
    torch.testing.assert_close(a(x), b(x))
    for (name, buffer_a), buffer_b in zip(a.named_buffers(), b.buffers(), strict=True):
        assert torch.equal(buffer_a, buffer_b), name
    reset_noise(b, torch.Generator().manual_seed(8))
    assert not torch.allclose(a(x), b(x))


def test_gradients_reach_means_and_scales_but_not_the_noise():
    torch.manual_seed(0)
    layer = NoisyLinear(3, 2)
    layer(torch.randn(4, 3)).square().sum().backward()
    for parameter in layer.parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0
    assert not layer.input_noise.requires_grad and not layer.output_noise.requires_grad


def test_noise_is_saved_in_the_state_dict():
    torch.manual_seed(0)
    a, b = NoisyLinear(3, 2), NoisyLinear(3, 2)
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 3)
    torch.testing.assert_close(a(x), b(x))


def test_reset_noise_is_a_no_op_without_noisy_layers():
    net = nn.Sequential(nn.Linear(3, 2))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    reset_noise(net)
    with noise_disabled(net):
        pass
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())


def test_non_positive_sigma0_is_refused():
    with pytest.raises(ConfigurationError, match=r"sigma0=0\.0 is invalid"):
        NoisyLinear(3, 2, sigma0=0.0)
