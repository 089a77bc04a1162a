"""The convolutional network of Mnih et al. (2015), "Human-level control through deep RL"."""

from __future__ import annotations

from torch import nn

from lit_rl.networks.conv_q_network import ConvQNetwork, scaled_frames

__all__ = ["NatureCNN", "scaled_frames"]


class NatureCNN(ConvQNetwork):
    """Three conv layers and a 512-unit layer, for ``[C, 84, 84]`` uint8 frame stacks.

    Frames arrive as uint8 (4x less host memory and transfer than float32) and are scaled to
    ``[0, 1]`` here, on the device the network lives on. The output layer runs in float32 even
    under mixed precision (see :func:`float32_head`). The options turn it into a Rainbow-style
    Q-network; the defaults give the network of Mnih et al.

    Args:
        in_channels: stacked frames ``C``.
        out_features: number of outputs (actions ``A``).
        height: frame height.
        width: frame width.
        dueling: a value and an advantage stream, each with its own 512-unit layer, on the conv
            features (Wang et al. 2016; :class:`~lit_rl.networks.dueling.DuelingHead`).
        noisy_nets: make the 512-unit layer(s) and the output layer(s) NoisyLinear.
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
            nn.Conv2d(in_channels, 32, kernel_size=8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.build_output_layers(
            in_channels, height, width, 512, out_features, dueling=dueling, noisy_nets=noisy_nets,
            num_outputs_per_action=num_outputs_per_action, sigma0=sigma0,
        )
