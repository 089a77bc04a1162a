"""Networks, and the choice between them from the observation space."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gymnasium import spaces
from torch import nn

from lit_rl.checks import ConfigurationError, check_positive
from lit_rl.networks.actor_critic import ActorCritic
from lit_rl.networks.dueling import DuelingHead, dueling_q_values
from lit_rl.networks.impala_cnn import ImpalaCNN
from lit_rl.networks.mlp import MLP
from lit_rl.networks.nature_cnn import NatureCNN
from lit_rl.networks.noisy_linear import NoisyLinear, noise_disabled, reset_noise

NETWORKS = ("auto", "mlp", "nature_cnn", "impala_cnn")
CNNS = {"nature_cnn": NatureCNN, "impala_cnn": ImpalaCNN}


def is_image_space(space: spaces.Space) -> bool:
    """uint8 ``[C, H, W]`` observations, such as a stack of 84x84 Atari frames."""
    return isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3


def build_network(
    observation_space: spaces.Space,
    out_features: int,
    network: str = "auto",
    hidden_sizes: Sequence[int] = (256, 256),
    *,
    dueling: bool = False,
    noisy_nets: bool = False,
    num_outputs_per_action: int = 1,
    noisy_sigma0: float = 0.5,
) -> nn.Module:
    """Build ``network`` for ``observation_space``; ``"auto"`` picks the Nature CNN for frames, else the MLP.

    The network maps a batch of observations to ``[B, out_features]`` float32 outputs, or to
    ``[B, out_features, num_outputs_per_action]`` when ``num_outputs_per_action > 1`` (e.g. the
    logits of C51's atoms, or QR-DQN's quantiles), in float32 even under mixed precision.

    Args:
        observation_space: the single-env observation space (a Box).
        out_features: number of actions ``A``.
        network: ``auto``, ``mlp``, ``nature_cnn`` or ``impala_cnn``.
        hidden_sizes: hidden layer widths of the MLP (the CNNs have their own).
        dueling: value and advantage streams, ``Q = V + A - mean A`` per output (Wang et al. 2016).
        noisy_nets: factorised Gaussian NoisyLinear last hidden and output layers (Fortunato et al.
            2018); resample with :func:`reset_noise`, use the mean weights in eval mode or inside
            :func:`noise_disabled`.
        num_outputs_per_action: ``K`` outputs per action; 1 for Q-values.
        noisy_sigma0: initial noise scale ``sigma0`` of the noisy layers (0.5 in Rainbow).
    """
    if not isinstance(observation_space, spaces.Box):
        raise ConfigurationError(
            f"observation space {observation_space} is not supported: lit_rl networks take Box observations "
            "(lit_rl's vector envs one-hot encode Discrete ones)."
        )
    if isinstance(num_outputs_per_action, bool) or not isinstance(num_outputs_per_action, int):
        raise ConfigurationError(f"num_outputs_per_action={num_outputs_per_action!r} is invalid: it must be an int.")
    check_positive("num_outputs_per_action", num_outputs_per_action)
    check_positive("noisy_sigma0", noisy_sigma0)
    options = dict(
        dueling=dueling, noisy_nets=noisy_nets, num_outputs_per_action=num_outputs_per_action, sigma0=noisy_sigma0
    )
    if network == "auto":
        network = "nature_cnn" if is_image_space(observation_space) else "mlp"
    if network == "mlp":
        return MLP(int(np.prod(observation_space.shape)), out_features, hidden_sizes, **options)
    if network in CNNS:
        if len(observation_space.shape) != 3:
            raise ConfigurationError(
                f"network={network!r} needs [channels, height, width] image observations, but the "
                f"observation shape is {observation_space.shape}; use network='mlp' or 'auto'."
            )
        channels, height, width = observation_space.shape
        return CNNS[network](channels, out_features, height, width, **options)
    raise ConfigurationError(f"network={network!r} is invalid: choose one of {', '.join(map(repr, NETWORKS))}.")


__all__ = [
    "MLP",
    "NETWORKS",
    "ActorCritic",
    "DuelingHead",
    "ImpalaCNN",
    "NatureCNN",
    "NoisyLinear",
    "build_network",
    "dueling_q_values",
    "is_image_space",
    "noise_disabled",
    "reset_noise",
]
