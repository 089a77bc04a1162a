"""The residual network of Espeholt et al. (2018), "IMPALA: Scalable Distributed Deep-RL"."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lit_rl.networks.conv_q_network import ConvQNetwork


class ResidualBlock(nn.Module):
    """``x + conv(relu(conv(relu(x))))`` with 3x3 convolutions that keep the shape."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))


def conv_stack(in_channels: int, out_channels: int) -> nn.Sequential:
    """A 3x3 conv, a 3x3 max-pool of stride 2 (halving height and width, rounded up), two residual blocks."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        ResidualBlock(out_channels),
        ResidualBlock(out_channels),
    )


class ImpalaCNN(ConvQNetwork):
    """The 15-layer residual network of IMPALA ("large architecture", Espeholt et al. 2018, fig. 3).

    Three stacks of 16, 32 and 32 channels (see :func:`conv_stack`), a ReLU, and a 256-unit layer;
    on ``[4, 84, 84]`` frames the stacks leave ``32 x 11 x 11`` features. Frames are scaled as in
    :class:`~lit_rl.networks.nature_cnn.NatureCNN`, in the same channels_last layout, and the
    output layer runs in float32 even under mixed precision. The paper's LSTM is not included.

    Args:
        in_channels: stacked frames ``C``.
        out_features: number of outputs (actions ``A``).
        height: frame height.
        width: frame width.
        dueling: a value and an advantage stream, each with its own 256-unit layer, on the conv
            features (Wang et al. 2016; :class:`~lit_rl.networks.dueling.DuelingHead`).
        noisy_nets: make the 256-unit layer(s) and the output layer(s) NoisyLinear.
        num_outputs_per_action: ``K``; the output is ``[B, A]`` when 1, else ``[B, A, K]``.
        sigma0: initial noise scale of the noisy layers.
    """

    def __init__(
        self,
        in_channels: int,
        out_features: int,
        height: int = 84,
        width: int = 84,
        *,
        dueling: bool = False,
        noisy_nets: bool = False,
        num_outputs_per_action: int = 1,
        sigma0: float = 0.5,
    ) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            conv_stack(in_channels, 16),
            conv_stack(16, 32),
            conv_stack(32, 32),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.build_output_layers(
            in_channels, height, width, 256, out_features, dueling=dueling, noisy_nets=noisy_nets,
            num_outputs_per_action=num_outputs_per_action, sigma0=sigma0,
        )
