"""Q(s, a) critics for continuous actions: SAC's and TD3's twin critics, or DDPG's single one."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lit_rl.networks.mlp import MLP


class ContinuousCritics(nn.Module):
    """``num_critics`` independent MLPs, each mapping ``concat(obs, action)`` to one Q-value.

    Args:
        observation_size: size of the flattened observation.
        action_size: size of the action vector.
        hidden_sizes: hidden layer widths of each critic.
        num_critics: 2 for clipped double Q-learning (TD3, SAC), 1 for DDPG.
    """

    def __init__(
        self, observation_size: int, action_size: int, hidden_sizes: Sequence[int] = (256, 256), num_critics: int = 2
    ) -> None:
        super().__init__()
        self.critics = nn.ModuleList(
            MLP(observation_size + action_size, 1, hidden_sizes) for _ in range(num_critics)
        )

    def forward(self, obs: Tensor, actions: Tensor) -> Tensor:
        """``[num_critics, B]`` Q-values, in float32, of actions scaled to ``[-1, 1]``."""
        x = critic_input(obs, actions)
        return torch.stack([critic(x).squeeze(1) for critic in self.critics])

    def as_fixed(self, obs: Tensor, actions: Tensor, first_only: bool = False) -> Tensor:
        """The Q-values of :meth:`forward` (``first_only``: ``[1, B]``, the first critic's) as a function of the
        actions alone: the actor's loss backpropagates through the critics to the actions but computes no
        gradient for the critics' weights (about a third of that backward pass), which the actor never steps.
        """
        critics = self.critics[:1] if first_only else self.critics
        x = critic_input(obs, actions)
        return torch.stack([fixed_call(critic, x).squeeze(1) for critic in critics])


def critic_input(obs: Tensor, actions: Tensor) -> Tensor:
    return torch.cat([obs.flatten(1).to(torch.float32), actions.to(torch.float32)], dim=1)


def fixed_call(module: nn.Module, x: Tensor) -> Tensor:
    """``module(x)`` with its parameters detached: gradients reach ``x``, never the parameters."""
    parameters = {name: parameter.detach() for name, parameter in module.named_parameters()}
    return torch.func.functional_call(module, parameters, (x,))
