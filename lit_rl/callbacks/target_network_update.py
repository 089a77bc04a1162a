"""Keeping a DQN target network in step with the online network."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn

from lit_rl.checks import ConfigurationError, check_positive


def polyak_update(online: nn.Module, target: nn.Module, tau: float) -> None:
    """``target <- tau * online + (1 - tau) * target``; ``tau=1`` is a hard copy."""
    with torch.no_grad():
        target_params, online_params = list(target.parameters()), list(online.parameters())
        if tau == 1.0:
            torch._foreach_copy_(target_params, online_params)
        else:
            torch._foreach_lerp_(target_params, online_params, tau)
        for target_buffer, online_buffer in zip(target.buffers(), online.buffers(), strict=True):
            target_buffer.copy_(online_buffer)


class TargetNetworkUpdate(L.Callback):
    """Every ``target_update_interval`` gradient steps, move ``target_network`` toward ``q_network``.

    ``tau=1`` copies the weights (Mnih et al. 2015); ``tau<1`` is Polyak averaging. Updates happen
    after a training batch; when a batch takes several gradient steps (a round of DQN's
    ``gradient_steps``; Stable-Baselines3 also updates between rounds), an interval that ends
    inside the batch is applied at its end, and ``k`` intervals at once as one Polyak step of
    ``1 - (1 - tau) ** k``. The module must
    have ``q_network`` and ``target_network`` attributes. Under DDP every rank applies the same
    update to the same all-reduced weights, so the target networks stay identical without any
    communication (DDP does not synchronise parameters that have ``requires_grad=False``).

    Args:
        target_update_interval: gradient steps between updates.
        tau: interpolation factor in ``(0, 1]``.
    """

    def __init__(self, target_update_interval: int = 1000, tau: float = 1.0) -> None:
        check_positive("target_update_interval", target_update_interval)
        if not 0.0 < tau <= 1.0:
            raise ConfigurationError(f"tau={tau!r} is invalid: it must lie in (0, 1].")
        self.target_update_interval = target_update_interval
        self.tau = tau
        self.last_step = 0  # trainer.global_step at the previous update check

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Not in on_fit_start: Lightning restores global_step from a checkpoint after that hook.
        # A fresh run starts with target == online (after DDP has broadcast rank 0's weights);
        # a resumed run keeps the target network restored from the checkpoint.
        if trainer.global_step == 0:
            polyak_update(pl_module.q_network, pl_module.target_network, tau=1.0)
        self.last_step = trainer.global_step

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step, interval = trainer.global_step, self.target_update_interval
        intervals_ended = step // interval - self.last_step // interval
        self.last_step = step
        if intervals_ended > 0:
            tau = 1.0 - (1.0 - self.tau) ** intervals_ended
            polyak_update(pl_module.q_network, pl_module.target_network, tau)
