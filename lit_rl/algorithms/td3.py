"""Twin Delayed DDPG (Fujimoto et al. 2018), and DDPG (Lillicrap et al. 2016) as TD3 with its three changes off."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor

from lit_rl.algorithms.common import forward_context
from lit_rl.algorithms.continuous_control import (
    ActionScaling,
    check_bounded_box_actions,
    critic_loss,
    finish_round,
    let_ddp_skip_unused_parameters,
    with_random_actions,
)
from lit_rl.algorithms.off_policy import OffPolicyModule
from lit_rl.callbacks.target_network_update import polyak_update
from lit_rl.checks import ConfigurationError, check_non_negative, check_positive
from lit_rl.networks.continuous_actors import DeterministicActor
from lit_rl.networks.continuous_critics import ContinuousCritics
from lit_rl.replay_buffer import ReplayBatch
from lit_rl.target_policy_smoothing import smoothed_target_actions
from lit_rl.td_targets import bootstrapped_targets


class TD3(OffPolicyModule):
    """TD3: a deterministic actor, twin critics, delayed actor and target updates, target policy smoothing.

    Each gradient step updates the critics toward ``r + gamma * (1 - terminated) * min_i Q'_i(s', a')``,
    where ``a'`` is the target actor's action plus clipped Gaussian noise (truncated episodes bootstrap,
    terminated ones do not). Every ``policy_frequency`` steps the actor ascends the first critic's
    ``Q_1(s, mu(s))`` and the target actor and critics move toward theirs by ``tau``. The behaviour policy
    adds Gaussian noise of ``exploration_noise`` (in units of half the action range) to ``mu(s)``; actions
    are uniformly random for the first ``learning_starts`` env steps. Rounds of env steps and gradient
    steps are DQN's (see ``OffPolicyModule``). ``act`` gives ``mu(s)`` for deployment and evaluation.
    DDPG, as the TD3 paper reran it: ``twin_critics=False``, ``target_policy_noise=0``, ``policy_frequency=1``.

    Args:
        env_id: gymnasium environment id with a bounded continuous (Box) action space, e.g. ``Pendulum-v1``.
        env_kwargs: extra keyword arguments for ``gymnasium.make_vec``.
        num_envs: sub-environments stepped together in each process.
        total_env_steps: training stops after this many env steps; ``None`` leaves it to the Trainer.
        learning_rate: the actor's learning rate, and the critics' unless set apart.
        critic_learning_rate: the critics' learning rate (``None``: ``learning_rate``).
        optimizer: optimizer class or factory, called once for the actor and once for the critics with ``lr=...``.
        buffer_size: replay capacity in transitions, per process.
        batch_size: transitions per gradient step.
        gamma: discount factor in ``[0, 1]``.
        tau: Polyak factor of the target networks' updates, in ``(0, 1]``.
        learning_starts: env steps of uniformly random actions that fill the buffer before learning starts.
        train_frequency: vector-env steps between rounds of gradient steps.
        gradient_steps: gradient steps per round (one Lightning batch).
        policy_frequency: gradient steps between actor and target updates (the paper's delay ``d``).
        exploration_noise: standard deviation of the behaviour policy's Gaussian noise, as a fraction of
            half the action range.
        target_policy_noise: standard deviation of the target action's noise (same units); 0 turns it off.
        target_noise_clip: the target action's noise is clipped to ``[-target_noise_clip, target_noise_clip]``.
        twin_critics: learn two critics and bootstrap from the smaller (clipped double Q-learning).
        max_grad_norm: clip each optimizer's gradient norm to this value before its step (``None``: no clipping).
        hidden_sizes: hidden layer widths of the actor and of each critic.
        eval_episodes: deterministic episodes played at each evaluation.
        eval_interval: env steps between evaluations (one training epoch).
        record_video: after each evaluation, record one episode to ``<log_dir>/videos`` and TensorBoard.
        save_replay_buffer: write the replay buffer next to every checkpoint and reload it on resume.
    """

    def __init__(
        self,
        env_id: str = "Pendulum-v1",
        env_kwargs: dict[str, Any] | None = None,
        num_envs: int = 1,
        total_env_steps: int | None = 1_000_000,
        learning_rate: float = 3e-4,
        critic_learning_rate: float | None = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        buffer_size: int = 1_000_000,
        batch_size: int = 256,
        gamma: float = 0.99,
        tau: float = 0.005,
        learning_starts: int = 25_000,
        train_frequency: int = 1,
        gradient_steps: int = 1,
        policy_frequency: int = 2,
        exploration_noise: float = 0.1,
        target_policy_noise: float = 0.2,
        target_noise_clip: float = 0.5,
        twin_critics: bool = True,
        max_grad_norm: float | None = None,
        hidden_sizes: Sequence[int] = (256, 256),
        eval_episodes: int = 10,
        eval_interval: int = 10_000,
        record_video: bool = False,
        save_replay_buffer: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 < tau <= 1.0:
            raise ConfigurationError(f"tau={tau!r} is invalid: it must lie in (0, 1].")
        check_positive("policy_frequency", policy_frequency)
        check_non_negative("exploration_noise", exploration_noise)
        check_non_negative("target_policy_noise", target_policy_noise)
        check_non_negative("target_noise_clip", target_noise_clip)
        if critic_learning_rate is not None:
            check_positive("critic_learning_rate", critic_learning_rate)
        self.save_hyperparameters(ignore=["optimizer"])
        self.init_off_policy(optimizer, [])
        self.actor: DeterministicActor | None = None
        self.target_actor: DeterministicActor | None = None
        self.critics: ContinuousCritics | None = None
        self.target_critics: ContinuousCritics | None = None
        self.action_scaling: ActionScaling | None = None

    # ----------------------------------------------------------------- construction
    def check_spaces(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        check_bounded_box_actions("TD3", self.hparams.env_id, observation_space, action_space)

    def setup(self, stage: str) -> None:
        let_ddp_skip_unused_parameters(self)
        super().setup(stage)

    def build_networks(self, observation_space: spaces.Box, action_space: spaces.Box) -> None:
        self.observation_space, self.action_space = observation_space, action_space
        hp = self.hparams
        obs_size, action_size = int(np.prod(observation_space.shape)), int(np.prod(action_space.shape))
        self.actor = DeterministicActor(obs_size, action_size, hp.hidden_sizes)
        self.target_actor = copy.deepcopy(self.actor).requires_grad_(False)
        num_critics = 2 if hp.twin_critics else 1
        self.critics = ContinuousCritics(obs_size, action_size, hp.hidden_sizes, num_critics)
        self.target_critics = copy.deepcopy(self.critics).requires_grad_(False)
        self.action_scaling = ActionScaling(action_space)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        hp = self.hparams
        critic_lr = hp.learning_rate if hp.critic_learning_rate is None else hp.critic_learning_rate
        return [
            self.optimizer_factory(self.actor.parameters(), lr=hp.learning_rate),
            self.optimizer_factory(self.critics.parameters(), lr=critic_lr),
        ]

    # ----------------------------------------------------------------- acting
    @torch.inference_mode()
    def act(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic policy's env actions ``mu(s)``, rescaled to the bounds: for deployment and evaluation."""
        with forward_context(self):
            unit_actions = self.actor(torch.as_tensor(obs, device=self.device))
        return self.action_scaling.to_env(unit_actions).cpu().numpy()

    @torch.inference_mode()
    def noisy_actions(self, obs: np.ndarray) -> np.ndarray:
        """``clip(mu(s) + N(0, exploration_noise), -1, 1)`` rescaled to the bounds: the behaviour policy."""
        with forward_context(self):
            unit_actions = self.actor(torch.as_tensor(obs, device=self.device)).float()
        noise = torch.randn(unit_actions.shape, generator=self.noise_generator, device=unit_actions.device)
        unit_actions = (unit_actions + self.hparams.exploration_noise * noise).clamp(-1.0, 1.0)
        return self.action_scaling.to_env(unit_actions).cpu().numpy()

    def exploration_actions(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
        return with_random_actions(self.noisy_actions, obs, epsilon, self.action_rng, self.action_space)

    def evaluation_actions(self, obs: np.ndarray) -> np.ndarray:
        return self.act(obs)

    # ----------------------------------------------------------------- learning
    def critic_targets(self, batch: ReplayBatch) -> Tensor:
        """``r + gamma * (1 - terminated) * min_i Q'_i(s', a')`` at the smoothed target action ``a'``."""
        hp = self.hparams
        with torch.no_grad():
            next_actions = smoothed_target_actions(
                self.target_actor(batch.next_obs).float(), hp.target_policy_noise, hp.target_noise_clip,
                self.noise_generator,
            )
            next_q = self.target_critics(batch.next_obs, next_actions).min(dim=0).values
            return bootstrapped_targets(batch.rewards, batch.terminated, next_q, hp.gamma, batch.n_steps)

    def training_step(self, batch: ReplayBatch, batch_idx: int) -> Tensor:
        hp = self.hparams
        actor_optimizer, critic_optimizer = self.optimizers()
        critic_losses, actor_losses, q_values = [], [], []
        for minibatch in batch.split(hp.gradient_steps):
            targets = self.critic_targets(minibatch)
            q = self.critics(minibatch.obs, self.action_scaling.to_unit(minibatch.actions))
            loss = critic_loss(q, targets)
            critic_optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            critic_optimizer.step()
            self.gradient_updates += 1
            critic_losses.append(loss.detach())
            q_values.append(q.detach().mean())

            if self.gradient_updates % hp.policy_frequency == 0:  # the delayed updates
                actor_loss = -self.critics.as_fixed(minibatch.obs, self.actor(minibatch.obs), first_only=True).mean()
                actor_optimizer.zero_grad(set_to_none=True)
                self.manual_backward(actor_loss)
                actor_optimizer.step()
                actor_losses.append(actor_loss.detach())
                polyak_update(self.actor, self.target_actor, hp.tau)
                polyak_update(self.critics, self.target_critics, hp.tau)
        return finish_round(self, critic_losses, actor_losses, q_values)
