import pytest
import torch
import torch.nn.functional as F

from lit_rl.networks.nature_cnn import NatureCNN, scaled_frames


def reference_forward(state: dict[str, torch.Tensor], frames: torch.Tensor) -> torch.Tensor:
    """The Nature CNN in plain NCHW functional calls, from a state_dict (layout-free)."""
    w = {name: tensor.contiguous() for name, tensor in state.items()}
    x = frames.float() / 255.0
    x = F.relu(F.conv2d(x, w["trunk.0.weight"], w["trunk.0.bias"], stride=4))
    x = F.relu(F.conv2d(x, w["trunk.2.weight"], w["trunk.2.bias"], stride=2))
    x = F.relu(F.conv2d(x, w["trunk.4.weight"], w["trunk.4.bias"], stride=1))
    x = F.relu(F.linear(x.flatten(1), w["fc.0.weight"], w["fc.0.bias"]))
    return F.linear(x, w["head.weight"], w["head.bias"])


def test_channels_last_network_computes_the_nchw_values_and_gradients():
    torch.manual_seed(0)
    net = NatureCNN(4, 6)
    assert net.trunk[0].weight.is_contiguous(memory_format=torch.channels_last)
    frames = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    torch.testing.assert_close(net(frames), reference_forward(net.state_dict(), frames))

    state = {name: tensor.detach().clone().requires_grad_() for name, tensor in net.state_dict().items()}
    reference_forward(state, frames).square().sum().backward()
    net(frames).square().sum().backward()
    for name, parameter in net.named_parameters():
        torch.testing.assert_close(parameter.grad, state[name].grad, rtol=1e-4, atol=1e-5)


def test_checkpoints_load_across_layouts():
    torch.manual_seed(0)
    nchw_state = {name: tensor.contiguous() for name, tensor in NatureCNN(4, 6).state_dict().items()}
    net = NatureCNN(4, 6)
    net.load_state_dict(nchw_state)  # e.g. a checkpoint written before the layout change
    assert net.trunk[0].weight.is_contiguous(memory_format=torch.channels_last)
    frames = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8)
    torch.testing.assert_close(net(frames), reference_forward(nchw_state, frames))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_frames_scaled_in_the_autocast_dtype_are_the_float32_frames_autocast_would_cast(dtype):
    frames = torch.arange(256, dtype=torch.uint8).repeat(2).view(2, 4, 8, 8)  # every uint8 value
    with torch.autocast("cpu", dtype=dtype):
        scaled = scaled_frames(frames)
    assert scaled.dtype == dtype
    assert scaled.is_contiguous(memory_format=torch.channels_last)
    # What the first convolution got before: float32 frames, which autocast casts to its dtype.
    assert torch.equal(scaled, (frames.to(torch.float32) * (1.0 / 255.0)).to(dtype))
    assert scaled_frames(frames).dtype == torch.float32  # outside autocast
