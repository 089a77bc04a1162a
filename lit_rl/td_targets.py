"""Temporal-difference targets: DQN and Double DQN, and the bootstrap shared with SAC and TD3."""

from __future__ import annotations

from torch import Tensor


def td_targets(
    rewards: Tensor,
    terminated: Tensor,
    next_q_target: Tensor,
    gamma: float,
    next_q_online: Tensor | None = None,
    n_steps: Tensor | None = None,
) -> Tensor:
    """Return ``r + gamma * (1 - terminated) * Q_target(s', a*)`` for a batch of transitions.

    Args:
        rewards: ``[B]`` rewards.
        terminated: ``[B]`` true where ``s'`` is terminal. Truncated (time-limit) transitions must
            pass ``False`` here: the episode was cut, not ended, so the target still bootstraps.
        next_q_target: ``[B, A]`` target-network values of ``s'``.
        gamma: discount factor.
        next_q_online: ``[B, A]`` online-network values of ``s'``. When given, the greedy action
            is chosen by the online network and evaluated by the target network (Double DQN,
            van Hasselt et al. 2016); otherwise ``a* = argmax Q_target(s', .)``.
        n_steps: ``[B]`` env steps between ``s`` and ``s'`` for n-step transitions, whose
            ``rewards`` are already discounted sums; ``s'`` is then discounted by ``gamma ** n_steps``.
    """
    if next_q_online is None:
        next_value = next_q_target.max(dim=1).values
    else:
        greedy = next_q_online.argmax(dim=1, keepdim=True)
        next_value = next_q_target.gather(1, greedy).squeeze(1)
    return bootstrapped_targets(rewards, terminated, next_value, gamma, n_steps)


def bootstrapped_targets(
    rewards: Tensor, terminated: Tensor, next_values: Tensor, gamma: float, n_steps: Tensor | None = None
) -> Tensor:
    """Return ``r + gamma ** n * (1 - terminated) * V(s')``: the TD target given the next states' values.

    ``next_values`` is ``[B]``: DQN's ``Q_target(s', a*)``, TD3's smallest target critic at the smoothed
    target action, SAC's ``min_i Q_i(s', a') - alpha * log pi(a' | s')``. ``terminated`` must be ``False``
    for truncated (time-limit) transitions: the episode was cut, not ended, so the target still bootstraps.
    """
    # Computed in float32 even under mixed precision: small TD errors vanish in bf16.
    not_done = 1.0 - terminated.float()
    discount = gamma if n_steps is None else gamma ** n_steps.float()
    return rewards.float() + discount * not_done * next_values.float()

