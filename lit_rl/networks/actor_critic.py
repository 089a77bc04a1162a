"""Actor-critic networks: a policy head and a value head, with orthogonal initialisation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from lit_rl.checks import ConfigurationError
from lit_rl.networks.float32_head import float32_head
from lit_rl.networks.impala_cnn import ImpalaCNN
from lit_rl.networks.nature_cnn import NatureCNN


def orthogonal_init(layer: nn.Module, gain: float = float(np.sqrt(2))) -> nn.Module:
    """Orthogonal weights and zero biases for Linear and Conv layers (PPO's standard init)."""
    for module in layer.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            # Drawn in a contiguous tensor, then copied: the weight may be channels_last (NatureCNN).
            with torch.no_grad():
                weight = torch.empty_like(module.weight, memory_format=torch.contiguous_format)
                module.weight.copy_(nn.init.orthogonal_(weight, gain))
            nn.init.zeros_(module.bias)
    return layer


def tanh_mlp(in_features: int, hidden_sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for hidden in hidden_sizes:
        layers += [nn.Linear(in_features, hidden), nn.Tanh()]
        in_features = hidden
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Policy and value function for Box observations and Discrete or Box actions.

    Vector observations get two separate tanh MLPs (actor and critic); uint8 ``[C, H, W]`` frames
    get one shared CNN trunk (Nature or IMPALA) with two linear heads. Discrete actions have a categorical
    policy; Box actions a diagonal Gaussian whose log-std is a learned, state-independent vector.
    Hidden layers are initialised orthogonally with gain sqrt(2), the policy head with 0.01 (a
    near-uniform first policy) and the value head with 1.

    Args:
        observation_space: the single-env observation space.
        action_space: the single-env action space (``Discrete`` or ``Box``).
        hidden_sizes: hidden widths of each MLP (ignored for frames).
        network: ``auto`` (Nature CNN for uint8 frames, else MLP), ``mlp``, ``nature_cnn`` or ``impala_cnn``.
        log_std_init: initial log standard deviation of a Gaussian policy.
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Space,
        hidden_sizes: Sequence[int] = (64, 64),
        network: str = "auto",
        log_std_init: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(observation_space, spaces.Box):
            raise ConfigurationError(
                f"observation space {observation_space} is not supported: lit_rl networks take Box observations "
                "(lit_rl's vector envs one-hot encode Discrete ones)."
            )
        if isinstance(action_space, spaces.Discrete):
            self.continuous, out = False, int(action_space.n)
        elif isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
            self.continuous, out = True, int(action_space.shape[0])
        else:
            raise ConfigurationError(f"action space {action_space} is not supported: use Discrete or a 1-D Box.")
        if network == "auto":
            image = observation_space.dtype == np.uint8 and len(observation_space.shape) == 3
            network = "nature_cnn" if image else "mlp"
        if network in ("nature_cnn", "impala_cnn"):
            channels, height, width = observation_space.shape
            cnn = NatureCNN if network == "nature_cnn" else ImpalaCNN
            self.trunk = orthogonal_init(cnn(channels, out, height, width))
            self.actor_head = orthogonal_init(self.trunk.head, 0.01)  # the CNN's own head is the actor
            self.critic_head = orthogonal_init(nn.Linear(self.trunk.features_dim, 1), 1.0)
            self.actor_body = self.critic_body = None
        elif network == "mlp":
            self.trunk = None
            in_features = int(np.prod(observation_space.shape))
            width = hidden_sizes[-1] if hidden_sizes else in_features
            self.actor_body = orthogonal_init(tanh_mlp(in_features, hidden_sizes))
            self.critic_body = orthogonal_init(tanh_mlp(in_features, hidden_sizes))
            self.actor_head = orthogonal_init(nn.Linear(width, out), 0.01)
            self.critic_head = orthogonal_init(nn.Linear(width, 1), 1.0)
        else:
            raise ConfigurationError(
                f"network={network!r} is invalid: choose one of 'auto', 'mlp', 'nature_cnn', 'impala_cnn'."
            )
        self.log_std = nn.Parameter(torch.full((out,), float(log_std_init))) if self.continuous else None

    def forward(self, obs: Tensor) -> tuple[Distribution, Tensor]:
        """The action distribution and the value estimate ``[B]`` for a batch of observations."""
        if self.trunk is not None:
            features = self.trunk.features(obs)
            actor_features = critic_features = features
        else:
            obs = obs.to(torch.float32)
            actor_features, critic_features = self.actor_body(obs), self.critic_body(obs)
        # float32 heads: under mixed precision, logits, log-probabilities, entropies and values stay exact.
        values = float32_head(self.critic_head, critic_features).squeeze(-1)
        return self.distribution(float32_head(self.actor_head, actor_features)), values

    def value(self, obs: Tensor) -> Tensor:
        if self.trunk is not None:
            return float32_head(self.critic_head, self.trunk.features(obs)).squeeze(-1)
        return float32_head(self.critic_head, self.critic_body(obs.to(torch.float32))).squeeze(-1)

    def distribution(self, head: Tensor) -> Distribution:
        # Argument validation costs more than the small networks here; the inputs come from the network.
        if self.continuous:
            return Independent(Normal(head, self.log_std.exp().expand_as(head), validate_args=False), 1)
        return Categorical(logits=head, validate_args=False)

    @staticmethod
    def sample(dist: Distribution, generator: torch.Generator | None = None) -> Tensor:
        """One action per row, drawn from ``generator`` (torch's global generator when ``None``).

        ``Distribution.sample`` draws from the global generator only, which every DDP rank seeds alike.
        """
        if isinstance(dist, Independent):  # diagonal Gaussian
            loc, scale = dist.base_dist.loc, dist.base_dist.scale
            noise = torch.randn(loc.shape, generator=generator, device=loc.device, dtype=loc.dtype)
            return loc + scale * noise
        return torch.multinomial(dist.probs, 1, generator=generator).squeeze(-1)

    @staticmethod
    def greedy(dist: Distribution) -> Tensor:
        """The most likely action: the mean of a Gaussian, the argmax of a categorical."""
        return dist.mean if isinstance(dist, Independent) else dist.probs.argmax(-1)
