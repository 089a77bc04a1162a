"""TD3's target policy smoothing (Fujimoto et al. 2018, section 5.3)."""

from __future__ import annotations

import torch
from torch import Tensor


def smoothed_target_actions(
    target_actions: Tensor, noise_std: float, noise_clip: float, generator: torch.Generator | None = None
) -> Tensor:
    """``clip(mu'(s') + clip(N(0, noise_std), -noise_clip, noise_clip), -1, 1)`` for actions scaled to [-1, 1].

    The clipped noise makes the target value an average over nearby actions, so the critic cannot
    exploit a narrow peak of its own error. ``noise_std=0`` gives DDPG's target action.
    """
    if noise_std == 0.0:
        return target_actions
    noise = torch.randn(target_actions.shape, generator=generator, device=target_actions.device)
    noise = (noise * noise_std).clamp(-noise_clip, noise_clip).to(target_actions.dtype)
    return (target_actions + noise).clamp(-1.0, 1.0)
