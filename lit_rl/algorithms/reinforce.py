"""REINFORCE (Williams 1992): Monte-Carlo policy gradient, with an optional learned baseline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor

from lit_rl.algorithms.on_policy import OnPolicyModule
from lit_rl.gae import finished_episode_mask
from lit_rl.policy_losses import (
    explained_variance,
    masked_mean,
    mean_weights,
    normalize,
    policy_gradient_loss,
    value_loss,
)
from lit_rl.rollout_buffer import RolloutBatch


class Reinforce(OnPolicyModule):
    """REINFORCE: one gradient step per rollout on the discounted returns of whole episodes.

    A step's Monte-Carlo return is known only if its episode ends inside the rollout, so the
    steps of episodes still running at the rollout's end are left out of the loss (their later
    steps are used by the next rollout); make ``num_steps`` several episode lengths long. At a
    truncation the return is bootstrapped from the baseline's value of the final observation
    when there is a baseline, and cut there when there is none.

    Args:
        env_id: gymnasium environment id, e.g. ``CartPole-v1`` (Discrete or Box actions).
        env_kwargs: extra keyword arguments for ``gymnasium.make_vec``.
        num_envs: sub-environments stepped together in each process.
        num_steps: vector-env steps per rollout.
        total_env_steps: training stops after this many env steps; ``None`` leaves it to the Trainer.
        learning_rate: optimizer learning rate (the start value when annealed).
        optimizer: optimizer class or factory; called with the parameters and ``lr=learning_rate``.
        anneal_lr: decay the learning rate linearly to 0 at ``total_env_steps``.
        gamma: discount factor in ``[0, 1]``.
        baseline: learn a state-value baseline and subtract it from the returns.
        norm_adv: normalise the (baselined) returns over the rollout.
        ent_coef: weight of the entropy bonus.
        vf_coef: weight of the baseline's loss (mean squared error).
        max_grad_norm: clip the global gradient norm to this; ``None`` disables.
        network: ``auto`` (Nature CNN for image observations, MLP otherwise), ``mlp`` or ``nature_cnn``.
        hidden_sizes: hidden layer widths of the policy (and baseline) MLPs.
        log_std_init: initial log standard deviation of the Gaussian policy (Box actions).
        eval_episodes: greedy episodes played at each evaluation.
        eval_interval: env steps between evaluations (and after the last rollout).
        record_video: after each evaluation, record one episode to ``<log_dir>/videos`` and TensorBoard.
    """

    def __init__(
        self,
        env_id: str = "CartPole-v1",
        env_kwargs: dict[str, Any] | None = None,
        num_envs: int = 8,
        num_steps: int = 1000,
        total_env_steps: int | None = 500_000,
        learning_rate: float = 1e-3,
        optimizer: OptimizerCallable = torch.optim.Adam,
        anneal_lr: bool = False,
        gamma: float = 0.99,
        baseline: bool = True,
        norm_adv: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float | None = 0.5,
        network: str = "auto",
        hidden_sizes: Sequence[int] = (64, 64),
        log_std_init: float = 0.0,
        eval_episodes: int = 20,
        eval_interval: int = 50_000,
        record_video: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer"])
        self.init_on_policy(optimizer, update_epochs=1, num_minibatches=1)

    @torch.inference_mode()
    def finish_rollout(self, next_obs: np.ndarray) -> None:
        buffer = self.rollout_buffer
        if self.hparams.baseline:
            next_value = self.policy.value(torch.as_tensor(next_obs, device=self.device))
        else:
            buffer.values.zero_()  # no baseline: the advantage is the return itself
            next_value = torch.zeros(buffer.num_envs)
        # lambda = 1: discounted sums of rewards to the episode's end (bootstrapped at truncation).
        buffer.compute_returns(next_value, self.hparams.gamma, gae_lambda=1.0)
        # The rollout's last, unfinished episodes have no Monte-Carlo return yet: leave them out.
        buffer.valid &= finished_episode_mask(buffer.terminated, buffer.truncated, buffer.valid)
        self.rollout_explained_variance = explained_variance(buffer.values, buffer.returns, buffer.valid)

    def compute_loss(self, batch: RolloutBatch) -> tuple[Tensor, dict[str, Tensor]]:
        hp = self.hparams
        mask = mean_weights(batch.valid)  # one mask for all the means below
        dist, values = self.policy(batch.obs)
        advantages = normalize(batch.advantages, mask) if hp.norm_adv else batch.advantages
        policy_loss = policy_gradient_loss(dist.log_prob(batch.actions), advantages, mask)
        entropy = masked_mean(dist.entropy(), mask)
        loss = policy_loss - hp.ent_coef * entropy
        metrics = {"policy_loss": policy_loss, "entropy": entropy}
        if hp.baseline:
            metrics["value_loss"] = value_loss(values, batch.returns, mask=mask)
            loss = loss + hp.vf_coef * metrics["value_loss"]
        return loss, metrics
