"""Loss terms of policy-gradient methods, as pure functions of tensors.

Every function takes an optional ``mask`` of the rows that are real transitions (the
next-step-autoreset rows of a rollout are not) and averages over those rows only. The mask is
boolean, or the float row weights ``mean_weights(mask)`` gives: a loss that takes several means over
the same rows computes those once.
"""

from __future__ import annotations

import torch
from torch import Tensor


def mean_weights(mask: Tensor) -> Tensor:
    """Row weights that average over the rows where ``mask`` is True: ``mask / count`` (0 if there are none)."""
    weights = mask.float()
    return weights / weights.sum().clamp(min=1.0)


def masked_mean(x: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean of ``x`` over the rows where ``mask`` is True (0 if there are none).

    >>> masked_mean(torch.tensor([1.0, 3.0, 100.0]), torch.tensor([True, True, False]))
    tensor(2.)
    """
    if mask is None:
        return x.mean()
    weights = mean_weights(mask) if mask.dtype == torch.bool else mask
    return (x * weights).sum()


def normalize(x: Tensor, mask: Tensor | None = None, eps: float = 1e-8) -> Tensor:
    """Zero mean, unit standard deviation over the masked rows."""
    mean = masked_mean(x, mask)
    std = masked_mean((x - mean) ** 2, mask).sqrt()
    return (x - mean) / (std + eps)


def clipped_surrogate_loss(
    ratio: Tensor, advantages: Tensor, clip_coef: float, mask: Tensor | None = None
) -> Tensor:
    """PPO's clipped policy loss: ``-mean(min(r * A, clip(r, 1 - c, 1 + c) * A))``.

    >>> clipped_surrogate_loss(torch.tensor([1.5, 0.5]), torch.tensor([1.0, 1.0]), 0.2)
    tensor(-0.8500)
    """
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_coef, 1.0 + clip_coef) * advantages
    return -masked_mean(torch.min(unclipped, clipped), mask)


def policy_gradient_loss(logprobs: Tensor, advantages: Tensor, mask: Tensor | None = None) -> Tensor:
    """The vanilla (REINFORCE / A2C) policy-gradient loss ``-mean(A * log pi(a|s))``."""
    return -masked_mean(advantages.detach() * logprobs, mask)


def value_loss(
    values: Tensor,
    returns: Tensor,
    old_values: Tensor | None = None,
    clip_coef: float | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Mean squared error to the returns; with ``clip_coef``, PPO's pessimistic clipped version.

    The clipped value may move at most ``clip_coef`` from the value at collection time, and the
    larger of the clipped and unclipped errors is used. No ½ factor, as in Stable-Baselines3: CleanRL
    and OpenAI Baselines halve the squared error, so their ``vf_coef`` weighs it half as much as the
    same ``vf_coef`` does here.

    >>> value_loss(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0]))
    tensor(5.)
    """
    error = (values - returns) ** 2
    if clip_coef is not None:
        clipped = old_values + (values - old_values).clamp(-clip_coef, clip_coef)
        error = torch.max(error, (clipped - returns) ** 2)
    return masked_mean(error, mask)


@torch.no_grad()
def approx_kl(log_ratio: Tensor, mask: Tensor | None = None) -> Tensor:
    """Low-variance estimator of KL(old || new): ``mean((r - 1) - log r)`` (Schulman's k3)."""
    return masked_mean(log_ratio.exp() - 1.0 - log_ratio, mask)


@torch.no_grad()
def clip_fraction(ratio: Tensor, clip_coef: float, mask: Tensor | None = None) -> Tensor:
    """Fraction of rows whose probability ratio lies outside ``[1 - c, 1 + c]``."""
    return masked_mean(((ratio - 1.0).abs() > clip_coef).float(), mask)


@torch.no_grad()
def explained_variance(values: Tensor, returns: Tensor, mask: Tensor | None = None) -> Tensor:
    """``1 - Var(returns - values) / Var(returns)``: 1 is a perfect critic, <= 0 no better than a constant."""
    def var(x: Tensor) -> Tensor:
        return masked_mean((x - masked_mean(x, mask)) ** 2, mask)

    denominator = var(returns)
    if denominator == 0:
        return torch.tensor(float("nan"))
    return 1.0 - var(returns - values) / denominator
