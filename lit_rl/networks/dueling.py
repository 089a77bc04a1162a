"""Dueling Q-value heads, from Wang et al. (2016), "Dueling Network Architectures for Deep RL"."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from lit_rl.networks.float32_head import float32_head


def dueling_q_values(value: Tensor, advantage: Tensor) -> Tensor:
    """``Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')`` (Wang et al. 2016, eq. 9).

    Subtracting the mean makes ``V`` and ``A`` identifiable: a constant added to every advantage
    leaves ``Q`` unchanged. With distributional outputs the formula applies per atom or quantile,
    as in Rainbow (Hessel et al. 2018).

    Args:
        value: ``[B, 1]``, or ``[B, 1, K]`` with ``K`` outputs per action.
        advantage: ``[B, A]``, or ``[B, A, K]``.
    """
    return value + advantage - advantage.mean(dim=1, keepdim=True)


def per_action(outputs: Tensor, num_actions: int, num_outputs_per_action: int) -> Tensor:
    """``[B, A * K]`` outputs as ``[B, A]`` when ``K == 1``, else ``[B, A, K]`` (action-major)."""
    if num_outputs_per_action == 1:
        return outputs
    return outputs.view(outputs.shape[0], num_actions, num_outputs_per_action)


def stream(
    in_features: int, hidden: int | None, out_features: int, linear: Callable[[int, int], nn.Module]
) -> nn.Sequential:
    """``linear -> ReLU -> linear`` (or one ``linear`` when ``hidden`` is None)."""
    if hidden is None:
        return nn.Sequential(linear(in_features, out_features))
    return nn.Sequential(linear(in_features, hidden), nn.ReLU(), linear(hidden, out_features))


class DuelingHead(nn.Module):
    """A value stream and an advantage stream on shared features, combined by :func:`dueling_q_values`.

    Each stream has its own hidden layer (512 units on the Nature CNN in Wang et al. 2016 and in
    Rainbow). Hidden layers run in the ambient precision; the two output layers and the
    combination in float32 (see :func:`float32_head`).

    Args:
        in_features: width of the shared features.
        hidden: width of each stream's hidden layer; ``None`` for none (a linear layer per stream).
        num_actions: number of actions ``A``.
        num_outputs_per_action: ``K`` outputs per action (atoms or quantiles); 1 for Q-values.
        linear: layer constructor ``(in_features, out_features) -> module`` (nn.Linear or NoisyLinear).
    """

    def __init__(
        self,
        in_features: int,
        hidden: int | None,
        num_actions: int,
        num_outputs_per_action: int = 1,
        linear: Callable[[int, int], nn.Module] = nn.Linear,
    ) -> None:
        super().__init__()
        self.num_actions, self.num_outputs_per_action = num_actions, num_outputs_per_action
        self.value = stream(in_features, hidden, num_outputs_per_action, linear)
        self.advantage = stream(in_features, hidden, num_actions * num_outputs_per_action, linear)

    @staticmethod
    def stream_outputs(layers: nn.Sequential, features: Tensor) -> Tensor:
        *hidden, output = layers
        for layer in hidden:
            features = layer(features)
        return float32_head(output, features)

    def forward(self, features: Tensor) -> Tensor:
        """``[B, A]`` Q-values, or ``[B, A, K]`` when ``K > 1``."""
        value = self.stream_outputs(self.value, features).unsqueeze(1)  # [B, 1, K]
        advantage = self.stream_outputs(self.advantage, features)
        advantage = advantage.view(len(advantage), self.num_actions, self.num_outputs_per_action)  # [B, A, K]
        q = dueling_q_values(value, advantage)
        return q.squeeze(-1) if self.num_outputs_per_action == 1 else q
