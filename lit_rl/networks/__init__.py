"""Networks, and the choice between them from the observation space."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gymnasium import spaces
from torch import nn

from lit_rl.checks import ConfigurationError
from lit_rl.networks.actor_critic import ActorCritic
from lit_rl.networks.mlp import MLP
from lit_rl.networks.nature_cnn import NatureCNN

NETWORKS = ("auto", "mlp", "nature_cnn")


def is_image_space(space: spaces.Space) -> bool:
    """uint8 ``[C, H, W]`` observations, such as a stack of 84x84 Atari frames."""
    return isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3


def build_network(
    observation_space: spaces.Space,
    out_features: int,
    network: str = "auto",
    hidden_sizes: Sequence[int] = (256, 256),
) -> nn.Module:
    """Build ``network`` for ``observation_space``; ``"auto"`` picks the CNN for frames, else the MLP."""
    if not isinstance(observation_space, spaces.Box):
        raise ConfigurationError(
            f"observation space {observation_space} is not supported: lit_rl networks take Box observations "
            "(lit_rl's vector envs one-hot encode Discrete ones)."
        )
    if network == "auto":
        network = "nature_cnn" if is_image_space(observation_space) else "mlp"
    if network == "mlp":
        return MLP(int(np.prod(observation_space.shape)), out_features, hidden_sizes)
    if network == "nature_cnn":
        if len(observation_space.shape) != 3:
            raise ConfigurationError(
                f"network='nature_cnn' needs [channels, height, width] image observations, but the "
                f"observation shape is {observation_space.shape}; use network='mlp' or 'auto'."
            )
        channels, height, width = observation_space.shape
        return NatureCNN(channels, out_features, height, width)
    raise ConfigurationError(f"network={network!r} is invalid: choose one of {', '.join(map(repr, NETWORKS))}.")


__all__ = ["MLP", "ActorCritic", "NETWORKS", "NatureCNN", "build_network", "is_image_space"]
