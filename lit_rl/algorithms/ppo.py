"""Proximal Policy Optimization with the clipped surrogate objective (Schulman et al. 2017)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor

from lit_rl.algorithms.on_policy import OnPolicyModule
from lit_rl.checks import ConfigurationError, check_positive
from lit_rl.policy_losses import (
    approx_kl,
    clip_fraction,
    clipped_surrogate_loss,
    masked_mean,
    mean_weights,
    normalize,
    value_loss,
)
from lit_rl.rollout_buffer import RolloutBatch
from lit_rl.schedules import linear_schedule


class PPO(OnPolicyModule):
    """PPO: several epochs of minibatch updates per rollout, the policy change held back by clipping.

    Each training epoch is one rollout of ``num_steps`` x ``num_envs`` env steps, learned from in
    ``update_epochs`` shuffled passes of ``num_minibatches`` minibatches. Env steps are counted over
    all sub-environments and all processes; ``total_env_steps``, ``eval_interval`` and the
    annealing schedules are in those global env steps.

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
        gae_lambda: GAE lambda in ``[0, 1]``.
        update_epochs: passes over each rollout.
        num_minibatches: minibatches per pass; must divide ``num_envs * num_steps``.
        clip_coef: clip range of the probability ratio, ``> 0``.
        anneal_clip: decay ``clip_coef`` linearly to 0 at ``total_env_steps``.
        clip_vloss: clip the value update around the collection-time value with ``clip_coef``.
        norm_adv: normalise advantages within each minibatch.
        ent_coef: weight of the entropy bonus.
        vf_coef: weight of the value loss, the mean squared error with no ½ factor (Stable-Baselines3's
            convention). CleanRL and OpenAI Baselines halve the squared error: their ``vf_coef=0.5`` is 0.25 here.
        max_grad_norm: clip the global gradient norm to this; ``None`` disables.
        target_kl: after each epoch (pass over the rollout), skip the rollout's remaining epochs if the
            approximate KL to the collecting policy of the epoch's last minibatch (averaged over processes)
            exceeds this, as CleanRL does; ``None`` disables. (Stable-Baselines3 checks every minibatch
            instead, before its update, against ``1.5 * target_kl``.)
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
        num_steps: int = 128,
        total_env_steps: int | None = 1_000_000,
        learning_rate: float = 2.5e-4,
        optimizer: OptimizerCallable = torch.optim.Adam,
        anneal_lr: bool = True,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        update_epochs: int = 4,
        num_minibatches: int = 4,
        clip_coef: float = 0.2,
        anneal_clip: bool = False,
        clip_vloss: bool = True,
        norm_adv: bool = True,
        ent_coef: float = 0.01,
        vf_coef: float = 0.5,
        max_grad_norm: float | None = 0.5,
        target_kl: float | None = None,
        network: str = "auto",
        hidden_sizes: Sequence[int] = (64, 64),
        log_std_init: float = 0.0,
        eval_episodes: int = 20,
        eval_interval: int = 50_000,
        record_video: bool = False,
        overlap_env_steps: bool = False,
    ) -> None:
        super().__init__()
        check_positive("clip_coef", clip_coef)
        if anneal_clip and total_env_steps is None:
            raise ConfigurationError("anneal_clip=True needs total_env_steps: the clip range reaches 0 there.")
        if target_kl is not None:
            check_positive("target_kl", target_kl)
        self.save_hyperparameters(ignore=["optimizer"])
        self.init_on_policy(optimizer, update_epochs, num_minibatches)
        self.ends_epoch = False  # whether the minibatch being learned from is the last of its epoch

    def compute_loss(self, batch: RolloutBatch) -> tuple[Tensor, dict[str, Tensor]]:
        hp = self.hparams
        clip = hp.clip_coef
        if hp.anneal_clip:
            clip = linear_schedule(hp.clip_coef, 0.0, hp.total_env_steps, self.progress_env_steps())
        mask = mean_weights(batch.valid)  # one mask for all the means below
        dist, values = self.policy(batch.obs)
        logprobs = dist.log_prob(batch.actions)
        log_ratio = logprobs - batch.logprobs
        ratio = log_ratio.exp()
        # Averaged over processes, so that under DDP every rank stops after the same epoch.
        kl = self.trainer.strategy.reduce(approx_kl(log_ratio, mask), reduce_op="mean")
        advantages = normalize(batch.advantages, mask) if hp.norm_adv else batch.advantages
        policy_loss = clipped_surrogate_loss(ratio, advantages, clip, mask)
        v_loss = value_loss(values, batch.returns, batch.values, clip if hp.clip_vloss else None, mask)
        entropy = masked_mean(dist.entropy(), mask)
        loss = policy_loss + hp.vf_coef * v_loss - hp.ent_coef * entropy
        metrics = {
            "policy_loss": policy_loss, "value_loss": v_loss, "entropy": entropy, "approx_kl": kl,
            "clip_fraction": clip_fraction(ratio, clip, mask), "clip_coef": torch.tensor(clip),
        }
        return loss, metrics

    def minibatches(self, batch: RolloutBatch) -> Iterator[RolloutBatch]:
        for number, minibatch in enumerate(super().minibatches(batch), start=1):
            self.ends_epoch = number % self.num_minibatches == 0  # read by stop_updates after its update
            yield minibatch

    def stop_updates(self, metrics: dict[str, Tensor]) -> bool:
        # CleanRL's early stop: checked once per epoch, after its last update, on that minibatch's KL.
        target_kl = self.hparams.target_kl
        return target_kl is not None and self.ends_epoch and bool(metrics["approx_kl"] > target_kl)
