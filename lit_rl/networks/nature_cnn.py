"""The convolutional network of Mnih et al. (2015), "Human-level control through deep RL"."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lit_rl.networks.dueling import DuelingHead, per_action
from lit_rl.networks.float32_head import float32_head
from lit_rl.networks.noisy_linear import linear_layer


def scaled_frames(obs: Tensor) -> Tensor:
    """uint8 frames as float32 in ``[0, 1]``, in the channels_last layout (other dtypes are not scaled)."""
    scale = 1.0 / 255.0 if obs.dtype == torch.uint8 else 1.0
    if obs.dim() == 4:  # permuted while still uint8: a quarter of the bytes of float32
        obs = obs.contiguous(memory_format=torch.channels_last)
    return obs.to(torch.float32) * scale


class NatureCNN(nn.Module):
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
        # channels_last (NHWC) is the native conv layout of oneDNN (CPU) and cuDNN: on 2 CPU cores a
        # forward + backward pass at batch 32 takes ~15% less time than in NCHW. The layout changes
        # strides only; values, state_dict keys and checkpoints are the same in both.
        self.trunk.to(memory_format=torch.channels_last)
        with torch.no_grad():
            flat = self.trunk(torch.zeros(1, in_channels, height, width)).shape[1]
        self.num_actions, self.num_outputs_per_action = out_features, num_outputs_per_action
        self.features_dim = 512
        final = linear_layer(noisy_nets, sigma0)  # the 512-unit layer and the output layer
        if dueling:
            self.fc = self.head = None
            self.dueling_head = DuelingHead(flat, 512, out_features, num_outputs_per_action, final)
        else:
            self.fc = nn.Sequential(final(flat, 512), nn.ReLU())
            self.head = final(512, out_features * num_outputs_per_action)
            self.dueling_head = None

    def conv_features(self, obs: Tensor) -> Tensor:
        """The flattened output of the conv layers."""
        return self.trunk(scaled_frames(obs))

    def features(self, obs: Tensor) -> Tensor:
        """The 512 features the output layer reads (not defined for a dueling network: two streams)."""
        if self.fc is None:
            raise RuntimeError("a dueling NatureCNN has no single feature layer: each stream has its own")
        return self.fc(self.conv_features(obs))

    def forward(self, obs: Tensor) -> Tensor:
        if self.dueling_head is not None:
            return self.dueling_head(self.conv_features(obs))
        q = float32_head(self.head, self.features(obs))
        return per_action(q, self.num_actions, self.num_outputs_per_action)
