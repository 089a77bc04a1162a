"""Distributional DQN targets and losses: C51 (Bellemare et al. 2017) and QR-DQN (Dabney et al. 2018).

Pure functions beside :func:`lit_rl.td_targets.td_targets`, with its conventions: ``rewards`` of
n-step transitions are already discounted sums and ``s'`` is discounted by ``gamma ** n_steps``;
``terminated`` stops bootstrapping, a truncated (time-limit) transition passes ``False`` and
bootstraps. Targets and losses are computed in float32 even under mixed precision.

Distributions over returns have shape ``[B, A, K]`` for all actions (``K`` atoms or quantiles) and
``[B, K]`` once an action is chosen. One C51 step (``logits`` are the network's ``[B, A, K]`` outputs)::

    support = categorical_support(num_atoms, v_min, v_max)
    with torch.no_grad():
        next_probs = categorical_next_probs(next_logits_target.softmax(-1), support,
                                            next_logits_online.softmax(-1))  # Double DQN
        target_probs = categorical_projection(next_probs, rewards, terminated, gamma, n_steps, support)
    log_probs = gather_actions(logits.float().log_softmax(-1), actions)
    per_sample = categorical_kl_divergence(log_probs, target_probs)  # priorities; same gradient as cross-entropy
    loss = (importance_weights * per_sample).mean()

and one QR-DQN step::

    with torch.no_grad():
        next_quantiles = quantile_next_quantiles(next_quantiles_target, next_quantiles_online)
        targets = quantile_targets(next_quantiles, rewards, terminated, gamma, n_steps)
    per_sample = quantile_huber_loss(gather_actions(quantiles, actions), targets)
    loss = (importance_weights * per_sample).mean()
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lit_rl.checks import ConfigurationError, check_non_negative


def categorical_support(num_atoms: int, v_min: float, v_max: float, device: torch.device | str | None = None) -> Tensor:
    """The ``num_atoms`` evenly spaced returns ``z_0 = v_min < ... < z_{K-1} = v_max`` of C51.

    Raises ``ConfigurationError`` for fewer than 2 atoms or ``v_min >= v_max``: call it in ``__init__``.

    >>> categorical_support(5, -2.0, 2.0)
    tensor([-2., -1.,  0.,  1.,  2.])
    """
    if not (isinstance(num_atoms, int) and num_atoms >= 2):
        raise ConfigurationError(f"num_atoms={num_atoms!r} is invalid: it must be an integer >= 2.")
    if not v_min < v_max:
        raise ConfigurationError(f"v_min={v_min!r}, v_max={v_max!r} are invalid: v_min must be < v_max.")
    return torch.linspace(v_min, v_max, num_atoms, device=device)


def gather_actions(dist: Tensor, actions: Tensor) -> Tensor:
    """Each row's distribution at its action: ``dist[b, actions[b]]``, ``[B, A, K] -> [B, K]``.

    >>> gather_actions(torch.arange(8.0).reshape(2, 2, 2), torch.tensor([1, 0]))
    tensor([[2., 3.],
            [4., 5.]])
    """
    index = actions.long().reshape(-1, 1, 1).expand(-1, 1, dist.shape[-1])
    return dist.gather(1, index).squeeze(1)


def categorical_q_values(probs: Tensor, support: Tensor) -> Tensor:
    """Expected returns ``Q(s, a) = sum_k p_k(s, a) z_k`` of categorical distributions ``[..., K] -> [...]``."""
    return (probs.float() * support.float()).sum(-1)


def quantile_q_values(quantiles: Tensor) -> Tensor:
    """Expected returns of quantile distributions, the mean of the quantiles: ``[..., N] -> [...]``."""
    return quantiles.float().mean(-1)


def categorical_next_probs(
    next_probs_target: Tensor, support: Tensor, next_probs_online: Tensor | None = None
) -> Tensor:
    """The target network's ``[B, K]`` distribution of ``s'`` at the greedy action.

    Args:
        next_probs_target: ``[B, A, K]`` target-network probabilities of ``s'``.
        support: ``[K]`` atoms.
        next_probs_online: ``[B, A, K]`` online-network probabilities of ``s'``. When given, the
            greedy action maximises the online network's expected return and the target network's
            distribution at that action is returned (Double DQN, as in Rainbow); otherwise the
            target network both chooses and evaluates.
    """
    chooser = next_probs_target if next_probs_online is None else next_probs_online
    greedy = categorical_q_values(chooser, support).argmax(dim=1)
    return gather_actions(next_probs_target, greedy)


def quantile_next_quantiles(next_quantiles_target: Tensor, next_quantiles_online: Tensor | None = None) -> Tensor:
    """The target network's ``[B, N]`` quantiles of ``s'`` at the greedy action.

    Args:
        next_quantiles_target: ``[B, A, N]`` target-network quantiles of ``s'``.
        next_quantiles_online: ``[B, A, N]`` online-network quantiles of ``s'``. When given, they
            choose the action (the argmax of their mean) and the target network evaluates it
            (Double DQN); otherwise the target network both chooses and evaluates.
    """
    chooser = next_quantiles_target if next_quantiles_online is None else next_quantiles_online
    greedy = quantile_q_values(chooser).argmax(dim=1)
    return gather_actions(next_quantiles_target, greedy)


def _bootstrap_discount(terminated: Tensor, gamma: float, n_steps: Tensor | None) -> Tensor:
    """``[B]`` factor ``gamma ** n * (1 - terminated)`` of the next state's returns, in float32."""
    not_done = 1.0 - terminated.float()
    discount = gamma if n_steps is None else gamma ** n_steps.float()
    return discount * not_done


def categorical_projection(
    next_probs: Tensor,
    rewards: Tensor,
    terminated: Tensor,
    gamma: float,
    n_steps: Tensor | None,
    support: Tensor,
) -> Tensor:
    """C51's target: the distribution of ``r + gamma^n (1 - terminated) Z(s')`` projected onto ``support``.

    Each atom ``z_j`` of ``s'`` moves to ``Tz_j = r + gamma^n (1 - terminated) z_j``, clipped to
    ``[v_min, v_max]``, and its probability is split between the two atoms around ``Tz_j`` in
    proportion to closeness (Bellemare et al. 2017, Algorithm 1). The split is written as
    ``max(0, 1 - |b_j - i|)`` for atom ``i`` at fractional index ``b_j``: a ``Tz_j`` that lands
    exactly on an atom (``floor(b_j) == ceil(b_j)``, e.g. every terminal reward on the support and
    every clipped atom) gives that atom all of its mass, where the usual ``floor``/``ceil`` scatter
    gives it none. The result is a probability distribution (non-negative, sums to 1).

    Args:
        next_probs: ``[B, K]`` probabilities of ``s'`` at the greedy action (see :func:`categorical_next_probs`).
        rewards: ``[B]`` rewards (n-step discounted sums for n-step transitions).
        terminated: ``[B]`` true where ``s'`` is terminal: the target is then ``r`` alone.
            Truncated (time-limit) transitions pass ``False`` and bootstrap.
        gamma: discount factor.
        n_steps: ``[B]`` env steps between ``s`` and ``s'``, or None for one step.
        support: ``[K]`` evenly spaced atoms from ``v_min`` to ``v_max`` (:func:`categorical_support`).

    >>> support = categorical_support(5, -2.0, 2.0)
    >>> categorical_projection(torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0]]), torch.tensor([0.5]),
    ...                        torch.tensor([True]), 0.99, None, support)
    tensor([[0.0000, 0.0000, 0.5000, 0.5000, 0.0000]])
    """
    num_atoms = support.shape[-1]
    if support.dim() != 1 or num_atoms < 2 or next_probs.shape[-1] != num_atoms:
        raise ValueError(
            f"support of shape {tuple(support.shape)} does not fit next_probs of shape {tuple(next_probs.shape)}: "
            "the support must be 1-D with >= 2 atoms, as many as next_probs has columns."
        )
    support = support.float()
    v_min, v_max = support[0], support[-1]
    delta_z = (v_max - v_min) / (num_atoms - 1)
    discount = _bootstrap_discount(terminated, gamma, n_steps)
    tz = rewards.float().unsqueeze(1) + discount.unsqueeze(1) * support.unsqueeze(0)  # [B, K]
    # Fractional atom index of each moved atom; clipping here is clipping Tz to [v_min, v_max].
    b = ((tz - v_min) / delta_z).clamp(0.0, num_atoms - 1)
    atoms = torch.arange(num_atoms, device=b.device, dtype=b.dtype)
    # split[b, j, i]: the share of moved atom j that goes to atom i (1 - distance, for the 1 or 2 neighbours).
    split = (1.0 - (b.unsqueeze(2) - atoms).abs()).clamp(min=0.0)
    return torch.einsum("bj,bji->bi", next_probs.float(), split)


def categorical_cross_entropy(log_probs: Tensor, target_probs: Tensor) -> Tensor:
    """Per-sample cross-entropy ``-sum_i m_i log p_i`` ``[B]`` of the target ``m`` under the online ``log p``.

    The C51 loss (Bellemare et al. 2017), as Dopamine and CleanRL report it. Gradients flow into
    ``log_probs`` only: the target is detached.

    Args:
        log_probs: ``[B, K]`` online log-probabilities of the taken action, e.g.
            ``gather_actions(logits.float().log_softmax(-1), actions)`` (log_softmax is stable; log of softmax is not).
        target_probs: ``[B, K]`` target distribution from :func:`categorical_projection`.
    """
    return -(target_probs.detach().float() * log_probs.float()).sum(-1)


def categorical_kl_divergence(log_probs: Tensor, target_probs: Tensor) -> Tensor:
    """Per-sample ``KL(m || p) = sum_i m_i (log m_i - log p_i)`` ``[B]``, 0 when the online distribution is the target.

    It differs from :func:`categorical_cross_entropy` by the target's entropy, which carries no
    gradient, so both train identically; the KL is what Rainbow uses as the prioritized-replay
    priority (Hessel et al. 2018, "prioritize transitions by the KL loss"), since the cross-entropy
    of a stochastic return stays above its entropy however well it is learned.

    Args:
        log_probs: ``[B, K]`` online log-probabilities of the taken action.
        target_probs: ``[B, K]`` target distribution from :func:`categorical_projection`.

    >>> log_probs = torch.tensor([[0.25, 0.5, 0.25]]).log().expand(2, 3)
    >>> categorical_kl_divergence(log_probs, torch.tensor([[0.25, 0.5, 0.25], [0.5, 0.5, 0.0]]))  # 0, ln(2) / 2
    tensor([0.0000, 0.3466])
    """
    target = target_probs.detach().float()
    return torch.xlogy(target, target).sum(-1) + categorical_cross_entropy(log_probs, target)


def quantile_targets(
    next_quantiles: Tensor,
    rewards: Tensor,
    terminated: Tensor,
    gamma: float,
    n_steps: Tensor | None = None,
) -> Tensor:
    """QR-DQN's target quantiles ``r + gamma^n (1 - terminated) theta_j(s', a*)``, ``[B, N'] -> [B, N']``.

    Args:
        next_quantiles: ``[B, N']`` quantiles of ``s'`` at the greedy action (see :func:`quantile_next_quantiles`).
        rewards: ``[B]`` rewards (n-step discounted sums for n-step transitions).
        terminated: ``[B]`` true where ``s'`` is terminal; truncated transitions pass ``False``.
        gamma: discount factor.
        n_steps: ``[B]`` env steps between ``s`` and ``s'``, or None for one step.

    >>> quantile_targets(torch.tensor([[1.0, 3.0]]), torch.tensor([1.0]), torch.tensor([False]), 0.5)
    tensor([[1.5000, 2.5000]])
    """
    discount = _bootstrap_discount(terminated, gamma, n_steps)
    return rewards.float().unsqueeze(1) + discount.unsqueeze(1) * next_quantiles.float()


def quantile_huber_loss(quantiles: Tensor, target_quantiles: Tensor, kappa: float = 1.0) -> Tensor:
    """Per-sample quantile Huber loss ``[B]`` of QR-DQN (Dabney et al. 2018, eq. 9-10).

    With ``u_ij = T theta_j - theta_i`` (target minus online) and the quantile midpoints
    ``tau_hat_i = (2i + 1) / (2N)``, the loss of a sample is
    ``sum_i mean_j |tau_hat_i - 1{u_ij < 0}| L_kappa(u_ij) / kappa``, where ``L_kappa`` is the
    Huber loss (``u^2 / 2`` for ``|u| <= kappa``, ``kappa (|u| - kappa / 2)`` beyond).
    Normalisation: summed over the online quantiles ``i``, averaged over the target quantiles ``j``,
    as Algorithm 1 of the paper, Dopamine's quantile agent (which also divides by ``kappa``) and
    SB3-contrib's ``quantile_huber_loss(sum_over_quantiles=True)`` do; the batch mean is the caller's
    (weighted by importance weights under prioritized replay). ``kappa=0`` is the pure quantile
    regression loss ``|tau_hat_i - 1{u_ij < 0}| |u_ij|``, the limit of the above. Gradients flow into
    ``quantiles`` only: the targets and the asymmetric weights are detached.

    Args:
        quantiles: ``[B, N]`` online quantiles of the taken action.
        target_quantiles: ``[B, N']`` targets from :func:`quantile_targets`.
        kappa: Huber threshold; 1 in the paper, Dopamine and SB3-contrib.

    >>> quantile_huber_loss(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 2.0, -1.0]]))
    tensor([0.5417])
    """
    check_non_negative("kappa", kappa)
    num_quantiles = quantiles.shape[-1]
    tau_hat = (2 * torch.arange(num_quantiles, device=quantiles.device, dtype=torch.float32) + 1) / (2 * num_quantiles)
    tau_hat = tau_hat.unsqueeze(1)  # [N, 1]: one per online quantile
    online = quantiles.float().unsqueeze(2)
    online, target = torch.broadcast_tensors(online, target_quantiles.detach().float().unsqueeze(1))  # [B, N, N']
    # [B, N, N'] tensors dominate the cost (Pong: 32 x 200 x 200 per step): torch's fused Huber/L1 kernels and one
    # weight tensor instead of an expression in u: ~3x faster forward and backward (benchmarks/quantile_loss_cost.py).
    if kappa == 0:
        scaled_huber = F.l1_loss(online, target, reduction="none")
    else:
        scaled_huber = F.huber_loss(online, target, reduction="none", delta=kappa) / kappa
    weight = torch.where(target < online, 1.0 - tau_hat, tau_hat)  # |tau_hat - 1{u < 0}|, u = target - online
    return (weight * scaled_huber).mean(dim=2).sum(dim=1)
