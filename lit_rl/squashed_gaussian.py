"""The tanh-squashed diagonal Gaussian policy of SAC (Haarnoja et al. 2018, appendix C).

Actions are ``a = tanh(u)`` with ``u ~ N(mean, std)``, so they lie in ``(-1, 1)`` and are rescaled to
the env's bounds outside the policy. The density of ``a`` follows from the change of variables:
``log pi(a) = log N(u) - sum_i log(1 - tanh(u_i) ** 2)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # Stable-Baselines3's bounds on the log standard deviation


def tanh_log_abs_det_jacobian(pre_tanh: Tensor) -> Tensor:
    """``sum_i log(1 - tanh(u_i) ** 2)`` over the last dimension, without the ``1e-6`` fudge.

    ``log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u))`` stays finite where ``tanh(u)`` rounds to
    ±1 in float32 (``|u|`` above about 9), which the direct formula turns into ``log(0)``.
    """
    return (2.0 * (math.log(2.0) - pre_tanh - F.softplus(-2.0 * pre_tanh))).sum(-1)


def squashed_gaussian_log_prob(pre_tanh: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """``log pi(tanh(u))`` per row, for the pre-squash sample ``u`` (``[B, A]`` -> ``[B]``)."""
    gaussian = -0.5 * ((pre_tanh - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2.0 * math.pi)
    return gaussian.sum(-1) - tanh_log_abs_det_jacobian(pre_tanh)


def squashed_gaussian_sample(
    mean: Tensor, log_std: Tensor, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """A reparameterised sample ``a = tanh(mean + std * eps)`` in ``(-1, 1)`` and its log-probability.

    Gradients flow to ``mean`` and ``log_std`` through the sample (the reparameterisation trick);
    ``generator`` makes the draw reproducible and must be on the tensors' device.
    """
    noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    pre_tanh = mean + log_std.exp() * noise
    return torch.tanh(pre_tanh), squashed_gaussian_log_prob(pre_tanh, mean, log_std)
