"""Actors for continuous actions scaled to ``[-1, 1]``: SAC's squashed Gaussian, TD3's deterministic policy."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lit_rl.networks.mlp import MLP
from lit_rl.squashed_gaussian import LOG_STD_MAX, LOG_STD_MIN, squashed_gaussian_sample


class SquashedGaussianActor(nn.Module):
    """An MLP that outputs a diagonal Gaussian's mean and log standard deviation per action dimension.

    Args:
        observation_size: size of the flattened observation.
        action_size: size of the action vector.
        hidden_sizes: hidden layer widths.
    """

    def __init__(self, observation_size: int, action_size: int, hidden_sizes: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        self.net = MLP(observation_size, 2 * action_size, hidden_sizes)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """``(mean, log_std)``, each ``[B, A]``; ``log_std`` is clamped to ``[-20, 2]`` as in Stable-Baselines3."""
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, obs: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Actions in ``(-1, 1)`` drawn with the reparameterisation trick, and their log-probabilities ``[B]``."""
        return squashed_gaussian_sample(*self(obs), generator)

    def deterministic(self, obs: Tensor) -> Tensor:
        """The policy's mode for deployment and evaluation: ``tanh(mean)``."""
        return torch.tanh(self(obs)[0])


class DeterministicActor(nn.Module):
    """An MLP with a tanh output: TD3's and DDPG's policy ``mu(s)`` in ``[-1, 1]``.

    Args:
        observation_size: size of the flattened observation.
        action_size: size of the action vector.
        hidden_sizes: hidden layer widths.
    """

    def __init__(self, observation_size: int, action_size: int, hidden_sizes: Sequence[int] = (256, 256)) -> None:
        super().__init__()
        self.net = MLP(observation_size, action_size, hidden_sizes)

    def forward(self, obs: Tensor) -> Tensor:
        return torch.tanh(self.net(obs))
