"""SAC's automatic entropy temperature (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications")."""

from __future__ import annotations

from torch import Tensor


def entropy_temperature_loss(log_alpha: Tensor, log_probs: Tensor, target_entropy: float) -> Tensor:
    """``-log_alpha * (log pi(a|s) + target_entropy)``, averaged over the batch (Stable-Baselines3's form).

    Its gradient raises ``alpha`` while the policy's entropy ``-log pi`` is below ``target_entropy`` and
    lowers it while above. ``log_probs`` are detached: this loss tunes the temperature, not the policy.
    Learning ``log alpha`` rather than ``alpha`` keeps the temperature positive.
    """
    return -(log_alpha * (log_probs.detach().float() + target_entropy)).mean()
