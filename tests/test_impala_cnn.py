import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces

from lit_rl.networks import ActorCritic, ImpalaCNN


def conv(x, w, name, **kwargs):
    return F.conv2d(x, w[f"{name}.weight"], w[f"{name}.bias"], padding=1, **kwargs)


def reference_forward(state: dict[str, torch.Tensor], frames: torch.Tensor) -> torch.Tensor:
    """Espeholt et al.'s network in plain NCHW functional calls, from a state_dict (layout-free)."""
    w = {name: tensor.contiguous() for name, tensor in state.items()}
    x = frames.float() / 255.0
    for stack in range(3):
        x = F.max_pool2d(conv(x, w, f"trunk.{stack}.0"), kernel_size=3, stride=2, padding=1)
        for block in (2, 3):
            prefix = f"trunk.{stack}.{block}"
            x = x + conv(F.relu(conv(F.relu(x), w, f"{prefix}.conv0")), w, f"{prefix}.conv1")
    x = F.relu(F.linear(F.relu(x).flatten(1), w["fc.0.weight"], w["fc.0.bias"]))
    return F.linear(x, w["head.weight"], w["head.bias"])


def test_parameter_count_and_shapes_on_84x84_frames():
    net = ImpalaCNN(4, 6)
    # conv 3x3 (in*9*out + out) then 4 convs in 2 residual blocks, per stack; fc 32*11*11 -> 256; head 256 -> 6
    stacks = (4 * 9 * 16 + 16) + 4 * (16 * 9 * 16 + 16)
    stacks += (16 * 9 * 32 + 32) + 4 * (32 * 9 * 32 + 32)
    stacks += (32 * 9 * 32 + 32) + 4 * (32 * 9 * 32 + 32)
    assert stacks == 97_744
    assert sum(p.numel() for p in net.parameters()) == stacks + (3872 * 256 + 256) + (256 * 6 + 6) == 1_090_774
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 15
    frames = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    assert net.conv_features(frames).shape == (3, 32 * 11 * 11)
    assert net(frames).shape == (3, 6) and net.features(frames).shape == (3, net.features_dim) == (3, 256)


def test_channels_last_network_computes_the_reference_values():
    torch.manual_seed(0)
    net = ImpalaCNN(4, 6)
    assert net.trunk[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    frames = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8)
    torch.testing.assert_close(net(frames), reference_forward(net.state_dict(), frames))
    torch.testing.assert_close(net(frames), net(frames.float() / 255.0), msg="uint8 frames are scaled by 1/255")


def test_actor_critic_takes_the_impala_trunk():
    obs_space = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    net = ActorCritic(obs_space, spaces.Discrete(6), network="impala_cnn")
    assert isinstance(net.trunk, ImpalaCNN)
    dist, values = net(torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8))
    assert dist.probs.shape == (2, 6) and values.shape == (2,)
