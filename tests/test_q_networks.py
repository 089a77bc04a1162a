import itertools

import numpy as np
import pytest
import torch
from gymnasium import spaces

from lit_rl.checks import ConfigurationError
from lit_rl.networks import MLP, NETWORKS, NoisyLinear, build_network

FRAMES = spaces.Box(0, 255, (4, 84, 84), np.uint8)
VECTOR = spaces.Box(-1.0, 1.0, (5,), np.float32)
COMBINATIONS = list(itertools.product(["mlp", "nature_cnn", "impala_cnn"], [False, True], [False, True], [1, 3]))


def observations(space: spaces.Box, n: int = 2) -> torch.Tensor:
    return torch.as_tensor(np.stack([space.sample() for _ in range(n)]))


@pytest.mark.parametrize("network, dueling, noisy_nets, k", COMBINATIONS)
def test_output_shape_and_float32_under_bf16_autocast(network, dueling, noisy_nets, k):
    torch.manual_seed(0)
    space = VECTOR if network == "mlp" else FRAMES
    net = build_network(space, 4, network, (16, 16), dueling=dueling, noisy_nets=noisy_nets, num_outputs_per_action=k)
    obs = observations(space)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(obs)
    assert out.shape == ((2, 4) if k == 1 else (2, 4, k)) and out.dtype == torch.float32
    assert torch.allclose(out, net(obs), atol=0.05), "bf16 trunk, float32 outputs: close to the float32 network"
    noisy = [m for m in net.modules() if isinstance(m, NoisyLinear)]
    assert len(noisy) == (0 if not noisy_nets else 4 if dueling else 2), "the last hidden and output layers"


def test_plain_networks_keep_their_state_dict_keys():
    # Checkpoints written before the Rainbow options load into the default networks.
    assert list(MLP(4, 2, (8, 8)).state_dict()) == [f"net.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")]
    nature = build_network(FRAMES, 6, "nature_cnn")
    assert [k for k in nature.state_dict() if not k.startswith("trunk.")] == [
        "fc.0.weight", "fc.0.bias", "head.weight", "head.bias"
    ]  # fmt: skip


def test_outputs_are_action_major():
    torch.manual_seed(0)
    net = MLP(3, 2, (8,), num_outputs_per_action=5)
    obs = torch.randn(4, 3)
    flat = net.net[-1](net.net[:-1](obs))  # [B, A * K]
    torch.testing.assert_close(net(obs), flat.view(4, 2, 5))
    torch.testing.assert_close(net(obs)[:, 1], flat[:, 5:10])


def test_build_network_refuses_bad_values():
    with pytest.raises(ConfigurationError, match="num_outputs_per_action=0 is invalid"):
        build_network(VECTOR, 2, num_outputs_per_action=0)
    with pytest.raises(ConfigurationError, match="noisy_sigma0=-1"):
        build_network(VECTOR, 2, noisy_nets=True, noisy_sigma0=-1)
    with pytest.raises(ConfigurationError, match="network='impala_cnn' needs"):
        build_network(VECTOR, 2, "impala_cnn")
    with pytest.raises(ConfigurationError, match="'impala_cnn'"):
        build_network(VECTOR, 2, "resnet")
    assert "impala_cnn" in NETWORKS
