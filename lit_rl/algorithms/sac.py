"""Soft Actor-Critic (Haarnoja et al. 2018): off-policy maximum-entropy actor-critic for continuous actions."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor, nn

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
from lit_rl.checks import ConfigurationError, check_positive
from lit_rl.entropy_temperature import entropy_temperature_loss
from lit_rl.networks.continuous_actors import SquashedGaussianActor
from lit_rl.networks.continuous_critics import ContinuousCritics
from lit_rl.replay_buffer import ReplayBatch
from lit_rl.td_targets import bootstrapped_targets


def parse_ent_coef(ent_coef: float | str) -> tuple[bool, float]:
    """``(learned, initial value)`` from ``ent_coef``: a number, ``"auto"`` (starts at 1) or ``"auto_<initial>"``."""
    if ent_coef == "auto":
        return True, 1.0
    if isinstance(ent_coef, str) and ent_coef.startswith("auto_"):
        try:
            initial = float(ent_coef[len("auto_") :])
        except ValueError:
            initial = 0.0
        if initial > 0:
            return True, initial
    elif not isinstance(ent_coef, str) and ent_coef >= 0:
        return False, float(ent_coef)
    raise ConfigurationError(
        f"ent_coef={ent_coef!r} is invalid: use a number >= 0 (a fixed temperature), 'auto' (learned, "
        "starting at 1) or 'auto_<initial value>' with a positive initial value, e.g. 'auto_0.1'."
    )


class SAC(OffPolicyModule):
    """Soft Actor-Critic with twin critics, Polyak targets and automatic entropy tuning.

    The actor is a tanh-squashed diagonal Gaussian; its actions are rescaled to the env's bounds, and the
    replay buffer stores them in the env's units. Each gradient step updates the critics toward
    ``r + gamma * (1 - terminated) * (min_i Q'_i(s', a') - alpha * log pi(a'|s'))`` with ``a' ~ pi(s')``
    (truncated episodes bootstrap, terminated ones do not); every ``policy_frequency`` steps the actor
    minimises ``alpha * log pi(a|s) - min_i Q_i(s, a)`` and, with ``ent_coef="auto"``, ``log alpha`` is
    tuned toward ``target_entropy``; every ``target_network_frequency`` steps the target critics move
    toward the critics by ``tau``. Rounds of env steps and gradient steps are DQN's (see
    ``OffPolicyModule``); actions are uniformly random for the first ``learning_starts`` env steps.
    ``act`` gives the deterministic policy ``tanh(mean)`` for deployment; evaluation uses it too.

    Args:
        env_id: gymnasium environment id with a bounded continuous (Box) action space, e.g. ``Pendulum-v1``.
        env_kwargs: extra keyword arguments for ``gymnasium.make_vec``.
        num_envs: sub-environments stepped together in each process.
        total_env_steps: training stops after this many env steps; ``None`` leaves it to the Trainer.
        learning_rate: the actor's learning rate, and the critics' and the temperature's unless set apart.
        critic_learning_rate: the critics' and the temperature's learning rate (``None``: ``learning_rate``).
        optimizer: optimizer class or factory, called once per group of parameters with ``lr=...``.
        buffer_size: replay capacity in transitions, per process.
        batch_size: transitions per gradient step.
        gamma: discount factor in ``[0, 1]``.
        tau: Polyak factor of the target critics' updates, in ``(0, 1]``.
        learning_starts: env steps of uniformly random actions that fill the buffer before learning starts.
        train_frequency: vector-env steps between rounds of gradient steps.
        gradient_steps: gradient steps per round (one Lightning batch).
        policy_frequency: gradient steps between actor (and temperature) updates; the critics learn at every step.
        target_network_frequency: gradient steps between target-critic updates.
        ent_coef: the entropy temperature alpha: a number (fixed), ``"auto"`` (learned, starting at 1) or
            ``"auto_<initial>"`` as in Stable-Baselines3.
        target_entropy: the entropy ``"auto"`` tunes toward (``None``: ``-dim(A)``, the paper's heuristic).
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
        learning_starts: int = 5000,
        train_frequency: int = 1,
        gradient_steps: int = 1,
        policy_frequency: int = 1,
        target_network_frequency: int = 1,
        ent_coef: float | str = "auto",
        target_entropy: float | None = None,
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
        check_positive("target_network_frequency", target_network_frequency)
        if critic_learning_rate is not None:
            check_positive("critic_learning_rate", critic_learning_rate)
        self.learn_alpha, initial_alpha = parse_ent_coef(ent_coef)
        self.save_hyperparameters(ignore=["optimizer"])
        self.init_off_policy(optimizer, [])
        # A parameter when learned (updated by its own optimizer), a buffer when fixed; either way in the checkpoint.
        log_alpha = torch.tensor(float(np.log(initial_alpha)) if initial_alpha > 0 else -np.inf)
        if self.learn_alpha:
            self.log_alpha = nn.Parameter(log_alpha)
        else:
            self.register_buffer("log_alpha", log_alpha)
        self.actor: SquashedGaussianActor | None = None
        self.critics: ContinuousCritics | None = None
        self.target_critics: ContinuousCritics | None = None
        self.action_scaling: ActionScaling | None = None

    # ----------------------------------------------------------------- construction
    def check_spaces(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        check_bounded_box_actions("SAC", self.hparams.env_id, observation_space, action_space)

    def setup(self, stage: str) -> None:
        let_ddp_skip_unused_parameters(self)
        super().setup(stage)

    def build_networks(self, observation_space: spaces.Box, action_space: spaces.Box) -> None:
        self.observation_space, self.action_space = observation_space, action_space
        hp = self.hparams
        obs_size, action_size = int(np.prod(observation_space.shape)), int(np.prod(action_space.shape))
        self.actor = SquashedGaussianActor(obs_size, action_size, hp.hidden_sizes)
        self.critics = ContinuousCritics(obs_size, action_size, hp.hidden_sizes, num_critics=2)
        self.target_critics = copy.deepcopy(self.critics).requires_grad_(False)
        self.action_scaling = ActionScaling(action_space)
        self.target_entropy = -float(action_size) if hp.target_entropy is None else float(hp.target_entropy)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        hp = self.hparams
        critic_lr = hp.learning_rate if hp.critic_learning_rate is None else hp.critic_learning_rate
        optimizers = [
            self.optimizer_factory(self.actor.parameters(), lr=hp.learning_rate),
            self.optimizer_factory(self.critics.parameters(), lr=critic_lr),
        ]
        if self.learn_alpha:
            optimizers.append(self.optimizer_factory([self.log_alpha], lr=critic_lr))
        return optimizers

    # ----------------------------------------------------------------- acting
    @torch.inference_mode()
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic env actions ``tanh(mean)`` rescaled to the bounds, for deployment and evaluation."""
        with forward_context(self):
            unit_actions = self.actor.deterministic(torch.as_tensor(obs, device=self.device))
        return self.action_scaling.to_env(unit_actions).cpu().numpy()

    @torch.inference_mode()
    def sample_actions(self, obs: np.ndarray) -> np.ndarray:
        """Env actions drawn from the squashed Gaussian policy (the behaviour policy after ``learning_starts``)."""
        with forward_context(self):
            unit_actions, _ = self.actor.sample(torch.as_tensor(obs, device=self.device), self.noise_generator)
        return self.action_scaling.to_env(unit_actions).cpu().numpy()

    def exploration_actions(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
        return with_random_actions(self.sample_actions, obs, epsilon, self.action_rng, self.action_space)

    def evaluation_actions(self, obs: np.ndarray) -> np.ndarray:
        return self.act(obs)

    # ----------------------------------------------------------------- learning
    def critic_targets(self, batch: ReplayBatch, alpha: Tensor) -> Tensor:
        """``r + gamma * (1 - terminated) * (min_i Q'_i(s', a') - alpha * log pi(a'|s'))``, ``a' ~ pi(s')``."""
        with torch.no_grad():
            next_actions, next_log_probs = self.actor.sample(batch.next_obs, self.noise_generator)
            next_q = self.target_critics(batch.next_obs, next_actions).min(dim=0).values
            soft_next_values = next_q - alpha * next_log_probs.float()
            gamma = self.hparams.gamma
            return bootstrapped_targets(batch.rewards, batch.terminated, soft_next_values, gamma, batch.n_steps)

    def training_step(self, batch: ReplayBatch, batch_idx: int) -> Tensor:
        hp = self.hparams
        actor_optimizer, critic_optimizer, *alpha_optimizer = self.optimizers()
        critic_losses, actor_losses, q_values, entropies = [], [], [], []
        for minibatch in batch.split(hp.gradient_steps):
            alpha = self.log_alpha.detach().exp()
            targets = self.critic_targets(minibatch, alpha)
            q = self.critics(minibatch.obs, self.action_scaling.to_unit(minibatch.actions))
            loss = critic_loss(q, targets)
            critic_optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            critic_optimizer.step()
            self.gradient_updates += 1
            critic_losses.append(loss.detach())
            q_values.append(q.detach().mean())

            if self.gradient_updates % hp.policy_frequency == 0:
                actions, log_probs = self.actor.sample(minibatch.obs, self.noise_generator)
                q_policy = self.critics.as_fixed(minibatch.obs, actions).min(dim=0).values
                actor_loss = (alpha * log_probs.float() - q_policy).mean()
                actor_optimizer.zero_grad(set_to_none=True)
                self.manual_backward(actor_loss)
                actor_optimizer.step()
                actor_losses.append(actor_loss.detach())
                entropies.append(-log_probs.detach().float().mean())
                if self.learn_alpha:
                    alpha_loss = entropy_temperature_loss(self.log_alpha, log_probs, self.target_entropy)
                    alpha_optimizer[0].zero_grad(set_to_none=True)
                    self.manual_backward(alpha_loss)
                    alpha_optimizer[0].step()
            if self.gradient_updates % hp.target_network_frequency == 0:
                polyak_update(self.critics, self.target_critics, hp.tau)
        if self.trainer._logger_connector.should_update_logs:
            self.log("train/alpha", self.log_alpha.detach().exp())
            if entropies:
                self.log("train/entropy", torch.stack(entropies).mean())
        return finish_round(self, critic_losses, actor_losses, q_values)
