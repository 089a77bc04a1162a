"""The environment-stepping callback of on-policy algorithms."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import lightning as L
import torch
from torch import Tensor

from lit_rl.callbacks.env_stepping import EnvStepping
from lit_rl.checks import ConfigurationError, check_positive
from lit_rl.envs import make_vector_env
from lit_rl.split_vector_env import SplitVectorEnv, StepResult


class RolloutCollector(EnvStepping):
    """Fills the module's rollout buffer with ``num_steps`` vector-env steps before each training epoch.

    Lightning creates a training epoch's batch iterator, and draws its first batch, before
    ``on_train_start``/``on_train_epoch_start`` run for the first epoch of a ``fit``, and after
    ``on_train_epoch_start`` for every later epoch. So the first rollout of a ``fit`` is collected in
    ``on_fit_start`` and each later one in ``on_train_epoch_start``: an epoch's one batch is the rollout
    collected just before it, by the policy as it was then. A checkpoint, written at the end of an
    epoch or after its batch, therefore never counts a rollout that no update used, and a resumed run
    continues with the rollout it would have collected next. Training stops when one more rollout
    would take more than ``total_env_steps`` env steps (counted over all sub-environments and all
    ranks, in ``pl_module.env_steps``); the first rollout is always collected.

    The module provides ``hparams.env_id``, ``hparams.env_kwargs`` (optional), ``rollout_buffer``,
    ``env_steps``, ``act(obs) -> (env_actions, actions, logprobs, values)`` and
    ``finish_rollout(next_obs)``, which computes the advantages.

    With ``overlap_env_steps`` the envs are two halves (``SplitVectorEnv``), stepped in turn: while one
    half's emulators run in ale-py's C++ threads, the policy acts for the other half. Each env still
    takes every step with the action the current policy chose from its current observation, so the
    rollout holds the same transitions as a synchronous one (its random draws come in another order).
    It needs ale-py's native Atari env and at least 2 envs.

    Args:
        num_envs: sub-environments per process; env ``i`` of rank ``r`` is seeded
            ``seed + r * num_envs + i``.
        num_steps: vector-env steps per rollout.
        total_env_steps: stop training after this many env steps (``None``: never).
        overlap_env_steps: step one half of the envs while the policy acts for the other.
    """

    def __init__(
        self,
        num_envs: int = 1,
        num_steps: int = 128,
        total_env_steps: int | None = None,
        overlap_env_steps: bool = False,
    ) -> None:
        super().__init__(num_envs)
        check_positive("num_steps", num_steps)
        if overlap_env_steps and num_envs < 2:
            raise ConfigurationError(
                f"overlap_env_steps=True needs num_envs >= 2 (two halves to step in turn), not num_envs={num_envs}."
            )
        self.overlap_env_steps = overlap_env_steps
        self.first_half_acted: tuple | None = None  # overlapped: the first half's action, sent ahead
        self.trained_rollout = -1  # the last rollout an update used
        if total_env_steps is not None:
            check_positive("total_env_steps", total_env_steps)
        self.num_steps = num_steps
        self.total_env_steps = total_env_steps

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_fit_start(trainer, pl_module)
        self.collect(pl_module)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Not in the first epoch of a fit, whose iterator already serves on_fit_start's rollout (and a
        # run resumed after an epoch's batch skips this hook for the epoch it completes).
        if self.trained_rollout == pl_module.rollout_buffer.rollout_id:
            self.collect(pl_module)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.trained_rollout = pl_module.rollout_buffer.rollout_id

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.is_last_rollout(pl_module):
            trainer.should_stop = True

    def is_last_rollout(self, pl_module: L.LightningModule) -> bool:
        """Whether one more rollout would take more than ``total_env_steps`` env steps."""
        rollout_steps = self.num_steps * self.steps_per_vector_step
        return self.total_env_steps is not None and pl_module.env_steps + rollout_steps > self.total_env_steps

    def make_env(self, env_id: str, env_kwargs: dict[str, Any] | None, threads: int) -> gym.vector.VectorEnv:
        if not self.overlap_env_steps:
            return super().make_env(env_id, env_kwargs, threads)
        first = self.num_envs // 2
        sizes = (first, self.num_envs - first)
        return SplitVectorEnv(tuple(make_vector_env(env_id, n, env_kwargs, num_threads=threads) for n in sizes))

    def collect(self, pl_module: L.LightningModule) -> None:
        """One rollout with the current policy, then its advantages."""
        buffer = pl_module.rollout_buffer
        buffer.reset()
        while not buffer.full:
            if self.overlap_env_steps:
                (actions, logprobs, values), step = self.overlapped_step(pl_module, buffer.num_steps - buffer.pos)
            else:
                env_actions, actions, logprobs, values = pl_module.act(self.obs)
                step = self.env.step(env_actions)
            next_obs, rewards, terminated, truncated, info = step
            # A resetting row's obs is the final obs of the last episode: its value is what a
            # truncation bootstraps from (see gae.py), but it is not a transition.
            buffer.add(self.obs, actions, logprobs, values, rewards, terminated, truncated, ~self.resetting)
            self.after_step(pl_module, next_obs, info)
        pl_module.finish_rollout(self.obs)

    def overlapped_step(self, pl_module: L.LightningModule, steps_left: int) -> tuple[tuple[Tensor, ...], StepResult]:
        """One step of every env, each half's emulators running while the policy acts for the other half.

        The first half is one action ahead: its next action is chosen while the second half steps, and
        sent at once, except after the rollout's last step (the policy will have changed by the next one).
        """
        env, (first, second) = self.env, self.env.slices
        if self.first_half_acted is None:
            self.first_half_acted = pl_module.act(self.obs[first])
            env.send(0, self.first_half_acted[0])
        first_acted, second_acted = self.first_half_acted, pl_module.act(self.obs[second])
        env.send(1, second_acted[0])
        first_step = env.recv(0)
        self.first_half_acted = pl_module.act(first_step[0]) if steps_left > 1 else None
        if self.first_half_acted is not None:
            env.send(0, self.first_half_acted[0])
        step = env.concat_steps(first_step, env.recv(1))
        return tuple(torch.cat(pair) for pair in zip(first_acted[1:], second_acted[1:], strict=True)), step
