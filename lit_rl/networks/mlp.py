"""Multi-layer perceptron for vector observations."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lit_rl.networks.dueling import DuelingHead, per_action
from lit_rl.networks.float32_head import float32_head
from lit_rl.networks.noisy_linear import linear_layer


class MLP(nn.Module):
    """``Linear -> ReLU`` blocks then a linear head; inputs are flattened and cast to float32.

    The output layer runs in float32 even under mixed precision (see :func:`float32_head`). The
    options turn it into a Rainbow-style Q-network; the defaults give the plain network.

    Args:
        in_features: size of the flattened observation.
        out_features: number of outputs (actions ``A``).
        hidden_sizes: hidden layer widths.
        dueling: split the last hidden layer and the output into a value and an advantage stream
            (:class:`~lit_rl.networks.dueling.DuelingHead`); the earlier hidden layers are shared.
        noisy_nets: make the last hidden layer(s) and the output layer(s) NoisyLinear.
        num_outputs_per_action: ``K``; the output is ``[B, A]`` when 1, else ``[B, A, K]``.
        sigma0: initial noise scale of the noisy layers.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_sizes: Sequence[int] = (256, 256),
        *,
        dueling: bool = False,
        noisy_nets: bool = False,
        num_outputs_per_action: int = 1,
        sigma0: float = 0.5,
    ) -> None:
        super().__init__()
        self.num_actions, self.num_outputs_per_action = out_features, num_outputs_per_action
        final = linear_layer(noisy_nets, sigma0)  # the last hidden layer and the output layer
        shared = list(hidden_sizes)
        last = shared.pop() if shared else None
        layers: list[nn.Module] = []
        width = in_features
        for hidden in shared:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        if dueling:
            self.net = nn.Sequential(*layers)
            self.dueling_head = DuelingHead(width, last, out_features, num_outputs_per_action, final)
        else:
            if last is not None:
                layers += [final(width, last), nn.ReLU()]
                width = last
            layers.append(final(width, out_features * num_outputs_per_action))
            self.net = nn.Sequential(*layers)  # the plain network's state_dict keys: net.0, net.2, ...
            self.dueling_head = None

    def forward(self, obs: Tensor) -> Tensor:
        x = obs.flatten(1).to(torch.float32)
        if self.dueling_head is not None:
            return self.dueling_head(self.net(x))
        *hidden, head = self.net
        for layer in hidden:
            x = layer(x)
        return per_action(float32_head(head, x), self.num_actions, self.num_outputs_per_action)
