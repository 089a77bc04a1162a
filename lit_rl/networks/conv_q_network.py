"""What the frame networks share: uint8 frames scaled on the device, and the layers after the convolutions."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lit_rl.networks.dueling import DuelingHead, per_action
from lit_rl.networks.float32_head import float32_head
from lit_rl.networks.noisy_linear import linear_layer


def scaled_frames(obs: Tensor) -> Tensor:
    """uint8 frames scaled to ``[0, 1]`` in the channels_last layout (other dtypes are not scaled).

    Float32, or under autocast the autocast dtype (bf16, fp16) that the first convolution would cast
    them to: the same numbers, since every uint8 value is exact in those dtypes and the scaling
    multiplies in float32 before it rounds once. At a PPO Pong minibatch of 256 stacks, the float32
    detour (write, scale, cast) cost a quarter of a bf16 forward + backward pass on 2 CPU cores.
    """
    if obs.dim() == 4:  # permuted while still uint8: a quarter of the bytes of float32
        obs = obs.contiguous(memory_format=torch.channels_last)
    if obs.dtype != torch.uint8:
        return obs.to(torch.float32)
    device_type = obs.device.type
    dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else torch.float32
    return obs.to(dtype).mul_(1.0 / 255.0)


class ConvQNetwork(nn.Module):
    """A conv ``trunk`` (set by the subclass) followed by one hidden layer and the output layer.

    Plain: ``fc`` (``hidden`` units, ReLU) then ``head``. Dueling: a value and an advantage stream,
    each with its own hidden layer (``dueling_head``). The output layers run in float32 even under
    mixed precision; the output is ``[B, A]``, or ``[B, A, K]`` with ``K`` outputs per action.
    """

    trunk: nn.Sequential

    def build_output_layers(
        self,
        in_channels: int,
        height: int,
        width: int,
        hidden: int,
        out_features: int,
        *,
        dueling: bool,
        noisy_nets: bool,
        num_outputs_per_action: int,
        sigma0: float,
    ) -> None:
        """Put the trunk in channels_last and build the layers after it (``noisy_nets``: NoisyLinear ones)."""
        # channels_last (NHWC) is the native conv layout of oneDNN (CPU) and cuDNN: on 2 CPU cores a
        # Nature-CNN forward + backward pass at batch 32 takes ~15% less time than in NCHW. The layout
        # changes strides only; values, state_dict keys and checkpoints are the same in both.
        self.trunk.to(memory_format=torch.channels_last)
        with torch.no_grad():
            flat = self.trunk(torch.zeros(1, in_channels, height, width)).shape[1]
        self.num_actions, self.num_outputs_per_action = out_features, num_outputs_per_action
        self.features_dim = hidden
        final = linear_layer(noisy_nets, sigma0)  # the hidden layer and the output layer
        if dueling:
            self.fc = self.head = None
            self.dueling_head = DuelingHead(flat, hidden, out_features, num_outputs_per_action, final)
        else:
            self.fc = nn.Sequential(final(flat, hidden), nn.ReLU())
            self.head = final(hidden, out_features * num_outputs_per_action)
            self.dueling_head = None

    def conv_features(self, obs: Tensor) -> Tensor:
        """The flattened output of the trunk."""
        return self.trunk(scaled_frames(obs))

    def features(self, obs: Tensor) -> Tensor:
        """The ``features_dim`` features the output layer reads (not defined for a dueling network: two streams)."""
        if self.fc is None:
            raise RuntimeError(f"a dueling {type(self).__name__} has no single feature layer: each stream has its own")
        return self.fc(self.conv_features(obs))

    def forward(self, obs: Tensor) -> Tensor:
        if self.dueling_head is not None:
            return self.dueling_head(self.conv_features(obs))
        q = float32_head(self.head, self.features(obs))
        return per_action(q, self.num_actions, self.num_outputs_per_action)
