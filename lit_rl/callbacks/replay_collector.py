"""The environment-stepping callback of off-policy algorithms."""

from __future__ import annotations

from typing import Any

import lightning as L

from lit_rl.callbacks.env_stepping import EnvStepping
from lit_rl.checks import check_non_negative, check_positive


class ReplayCollector(EnvStepping):
    """Steps a vector env with the module's policy and stores the transitions in its replay buffer.

    Before the first gradient step it takes ``learning_starts`` env steps with uniformly random
    actions (in ``on_fit_start``: Lightning fetches the first batch right after that hook). Then,
    after every training batch (one round of the module's gradient steps), it takes
    ``train_frequency`` vector-env steps with ``pl_module.exploration_actions(obs, pl_module.epsilon)``. Training
    stops once ``total_env_steps`` is reached. Env steps are counted over all sub-environments and
    all ranks, in ``pl_module.env_steps``.

    The module provides ``hparams.env_id``, ``hparams.env_kwargs`` (optional),
    ``replay_buffer`` (with ``add``), ``exploration_actions(obs, epsilon)`` (the behaviour policy's env
    actions, uniformly random ones with probability ``epsilon``), ``epsilon`` and ``env_steps``.

    Args:
        num_envs: sub-environments per process; env ``i`` of rank ``r`` is seeded
            ``seed + r * num_envs + i``.
        learning_starts: random-action env steps that fill the buffer before learning starts.
        train_frequency: vector-env steps after each training batch.
        total_env_steps: stop training after this many env steps (``None``: never).
    """

    def __init__(
        self,
        num_envs: int = 1,
        learning_starts: int = 1000,
        train_frequency: int = 1,
        total_env_steps: int | None = None,
    ) -> None:
        super().__init__(num_envs)
        check_non_negative("learning_starts", learning_starts)
        check_positive("train_frequency", train_frequency)
        if total_env_steps is not None:
            check_positive("total_env_steps", total_env_steps)
        self.learning_starts = learning_starts
        self.train_frequency = train_frequency
        self.total_env_steps = total_env_steps

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_fit_start(trainer, pl_module)
        while pl_module.env_steps < self.learning_starts:
            self.step(pl_module, epsilon=1.0)
        if len(pl_module.replay_buffer) == 0:
            # A run resumed without a replay snapshot refills its buffer with the current policy,
            # for as many env steps as the warm-up took (at least one vector step).
            refill = min(self.learning_starts, pl_module.replay_buffer.capacity * trainer.world_size)
            for _ in range(max(1, -(-refill // self.steps_per_vector_step))):
                self.step(pl_module, epsilon=pl_module.epsilon)

    def step(self, pl_module: L.LightningModule, epsilon: float) -> None:
        """One vector-env step: act, store the real transitions, record finished episodes."""
        actions = pl_module.exploration_actions(self.obs, epsilon)
        next_obs, rewards, terminated, truncated, info = self.env.step(actions)
        pl_module.replay_buffer.add(
            self.obs, actions, rewards, next_obs, terminated, truncated, valid=~self.resetting
        )
        self.after_step(pl_module, next_obs, info)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        for _ in range(self.train_frequency):
            self.step(pl_module, pl_module.epsilon)
        if self.total_env_steps is not None and pl_module.env_steps >= self.total_env_steps:
            trainer.should_stop = True

