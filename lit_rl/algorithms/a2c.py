"""Advantage actor-critic, the synchronous form of A3C (Mnih et al. 2016)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor

from lit_rl.algorithms.on_policy import OnPolicyModule
from lit_rl.policy_losses import masked_mean, mean_weights, normalize, policy_gradient_loss, value_loss
from lit_rl.rollout_buffer import RolloutBatch


class A2C(OnPolicyModule):
    """A2C: one gradient step per short rollout, on n-step (or GAE) advantages from a learned critic.

    Each training epoch is one rollout of ``num_steps`` x ``num_envs`` env steps and one update.
    With ``gae_lambda=1`` the advantages are the n-step returns (bootstrapped from the critic at
    the rollout end and at truncations) minus the value, as in the A3C paper.

    Args:
        env_id: gymnasium environment id, e.g. ``CartPole-v1`` (Discrete or Box actions).
        env_kwargs: extra keyword arguments for ``gymnasium.make_vec``.
        num_envs: sub-environments stepped together in each process.
        num_steps: vector-env steps per rollout (the n of the n-step returns).
        total_env_steps: training stops after this many env steps; ``None`` leaves it to the Trainer.
        learning_rate: optimizer learning rate (the start value when annealed).
        optimizer: optimizer class or factory; called with the parameters and ``lr=learning_rate``
            (the A2C paper and Stable-Baselines3 use RMSprop with alpha 0.99, eps 1e-5).
        anneal_lr: decay the learning rate linearly to 0 at ``total_env_steps``.
        gamma: discount factor in ``[0, 1]``.
        gae_lambda: GAE lambda in ``[0, 1]``; 1 gives plain n-step advantages.
        norm_adv: normalise advantages over the rollout.
        ent_coef: weight of the entropy bonus.
        vf_coef: weight of the value loss, the mean squared error with no ½ factor (as in Stable-Baselines3).
        max_grad_norm: clip the global gradient norm to this; ``None`` disables.
        network: ``auto`` (Nature CNN for image observations, MLP otherwise), ``mlp``, ``nature_cnn`` or ``impala_cnn``.
        hidden_sizes: hidden layer widths of the actor and critic MLPs.
        log_std_init: initial log standard deviation of the Gaussian policy (Box actions).
        eval_episodes: greedy episodes played at each evaluation.
        eval_interval: env steps between evaluations (and after the last rollout).
        record_video: after each evaluation, record one episode to ``<log_dir>/videos`` and TensorBoard.
        overlap_env_steps: step one half of the envs while the policy acts for the other (ale-py's native
            Atari env only): the same transitions; meant for a policy on a GPU (on 2 CPU cores it is slower).
    """

    def __init__(
        self,
        env_id: str = "CartPole-v1",
        env_kwargs: dict[str, Any] | None = None,
        num_envs: int = 8,
        num_steps: int = 5,
        total_env_steps: int | None = 1_000_000,
        learning_rate: float = 7e-4,
        optimizer: OptimizerCallable = torch.optim.RMSprop,
        anneal_lr: bool = False,
        gamma: float = 0.99,
        gae_lambda: float = 1.0,
        norm_adv: bool = False,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float | None = 0.5,
        network: str = "auto",
        hidden_sizes: Sequence[int] = (64, 64),
        log_std_init: float = 0.0,
        eval_episodes: int = 20,
        eval_interval: int = 50_000,
        record_video: bool = False,
        overlap_env_steps: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer"])
        self.init_on_policy(optimizer, update_epochs=1, num_minibatches=1)

    def compute_loss(self, batch: RolloutBatch) -> tuple[Tensor, dict[str, Tensor]]:
        hp = self.hparams
        mask = mean_weights(batch.valid)  # one mask for all the means below
        dist, values = self.policy(batch.obs)
        advantages = normalize(batch.advantages, mask) if hp.norm_adv else batch.advantages
        policy_loss = policy_gradient_loss(dist.log_prob(batch.actions), advantages, mask)
        v_loss = value_loss(values, batch.returns, mask=mask)
        entropy = masked_mean(dist.entropy(), mask)
        loss = policy_loss + hp.vf_coef * v_loss - hp.ent_coef * entropy
        return loss, {"policy_loss": policy_loss, "value_loss": v_loss, "entropy": entropy}
