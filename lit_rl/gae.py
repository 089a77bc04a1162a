"""Generalised advantage estimation (Schulman et al. 2016) over a rollout of a vector env.

Rollouts are ``[num_steps, num_envs]`` arrays laid out as the collector stores them, with
gymnasium >= 1.0 next-step autoreset: when env ``i`` ends an episode at step ``t``, the observation
stored at ``t + 1`` is that episode's *final* observation (so ``values[t + 1]`` is the value to
bootstrap a truncation from), and step ``t + 1`` only resets env ``i``: it is not a transition
(``valid[t + 1]`` is False) and gets advantage 0.
"""

from __future__ import annotations

import torch
from torch import Tensor


def gae_advantages(
    rewards: Tensor,
    values: Tensor,
    next_value: Tensor,
    terminated: Tensor,
    truncated: Tensor,
    valid: Tensor,
    gamma: float,
    gae_lambda: float,
) -> Tensor:
    """GAE(lambda) advantages; ``advantages + values`` are the lambda-returns (value targets).

    Args:
        rewards, values, terminated, truncated, valid: ``[T, N]`` rollout arrays.
        next_value: ``[N]`` value of the observation after the last step.
        gamma: discount factor.
        gae_lambda: 1 gives Monte-Carlo returns bootstrapped at the rollout end, 0 one-step TD.

    >>> ones = torch.ones(3, 1)
    >>> gae_advantages(ones, 0 * ones, torch.zeros(1), ones < 0, ones < 0, ones > 0, 0.5, 1.0)[:, 0]
    tensor([1.7500, 1.5000, 1.0000])
    """
    num_steps = rewards.shape[0]
    values = values.float()
    next_values = torch.cat([values[1:], next_value.float().reshape(1, -1)])
    # Termination stops bootstrapping; truncation bootstraps from the final observation's value.
    deltas = rewards + gamma * next_values * (~terminated) - values
    # Either kind of episode end stops the advantage from flowing back across the boundary.
    carry = gamma * gae_lambda * (~(terminated | truncated)).float()
    advantages = torch.zeros_like(values)
    last = torch.zeros_like(next_value, dtype=values.dtype)
    for t in reversed(range(num_steps)):
        last = deltas[t] + carry[t] * last
        last = torch.where(valid[t], last, torch.zeros_like(last))
        advantages[t] = last
    return advantages


def finished_episode_mask(terminated: Tensor, truncated: Tensor, valid: Tensor) -> Tensor:
    """Steps whose episode ends inside the rollout: the only steps with a known Monte-Carlo return.

    A step is kept if its env ends an episode at that step or later in the rollout.

    >>> ended = torch.tensor([[False], [True], [False], [False]])
    >>> finished_episode_mask(ended, ended & False, torch.tensor([[True], [True], [False], [True]]))[:, 0]
    tensor([ True,  True, False, False])
    """
    done = (terminated | truncated).int()
    # Number of episode ends at this step or later: reversed cumulative sum along time.
    ends_from_here = done.flip(0).cumsum(0).flip(0)
    return (ends_from_here > 0) & valid


def discounted_returns(rewards: Tensor, gamma: float, next_return: Tensor) -> Tensor:
    """Discounted returns of steps whose episode goes on after them with return ``next_return``.

    ``returns[t] = rewards[t] + gamma * returns[t + 1]`` with ``returns[T] = next_return``: the
    Monte-Carlo returns of an episode's first steps, once the return of the step after them is known.

    Args:
        rewards: ``[T, N]`` rewards of ``T`` consecutive steps of one episode in each of ``N`` columns.
        gamma: discount factor.
        next_return: ``[N]`` return of the step after the last one.

    >>> discounted_returns(torch.ones(3, 1), 0.5, torch.tensor([8.0]))[:, 0]
    tensor([2.7500, 3.5000, 5.0000])
    """
    returns = torch.zeros_like(rewards, dtype=torch.float32)
    last = next_return.float()
    for t in reversed(range(rewards.shape[0])):
        last = rewards[t] + gamma * last
        returns[t] = last
    return returns
