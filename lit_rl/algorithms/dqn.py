"""Deep Q-Network (Mnih et al. 2013, 2015) and its Rainbow family (Hessel et al. 2018): Double DQN
targets, n-step returns, dueling and noisy networks, distributional C51 / QR-DQN, prioritized replay."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn

from lit_rl.algorithms.common import (
    check_losses_finite,
    forward_context,
    optimizer_steps_allowed,
)
from lit_rl.algorithms.off_policy import OffPolicyModule
from lit_rl.callbacks.epsilon_decay import EpsilonDecay
from lit_rl.callbacks.target_network_update import TargetNetworkUpdate
from lit_rl.checks import ConfigurationError, check_choice, check_positive, check_unit_interval
from lit_rl.distributional import (
    categorical_cross_entropy,
    categorical_next_probs,
    categorical_projection,
    categorical_q_values,
    categorical_support,
    gather_actions,
    quantile_huber_loss,
    quantile_next_quantiles,
    quantile_q_values,
    quantile_targets,
)
from lit_rl.frame_replay_buffer import make_replay_buffer
from lit_rl.n_step_replay import NStepReplayBuffer
from lit_rl.networks import NETWORKS, build_network, noise_disabled, reset_noise
from lit_rl.prioritized_replay import PrioritizedReplayBuffer
from lit_rl.replay_buffer import ReplayBatch, ReplayBuffer
from lit_rl.schedules import linear_schedule
from lit_rl.seeding import stream_seed_sequence
from lit_rl.td_targets import td_targets

LOSSES = {"huber": F.smooth_l1_loss, "mse": F.mse_loss}
DISTRIBUTIONAL = ("none", "c51", "qr")


class DQN(OffPolicyModule):
    """Deep Q-learning with experience replay, a target network and epsilon-greedy exploration.

    Env steps are counted over all sub-environments and all processes; ``total_env_steps``,
    ``learning_starts``, ``eval_interval`` and the epsilon schedule are in those global env steps.
    Training alternates rounds as in Stable-Baselines3: ``train_frequency`` vector-env steps of each
    process, then ``gradient_steps`` gradient steps. One Lightning batch is one round: it holds the
    round's ``gradient_steps`` minibatches, and ``training_step`` takes the gradient steps itself
    (manual optimization), so Lightning's per-batch work is paid once per round.

    Args:
        env_id: gymnasium environment id, e.g. ``CartPole-v1``; it must have discrete actions.
        env_kwargs: extra keyword arguments for ``gymnasium.make_vec``.
        num_envs: sub-environments stepped together in each process.
        total_env_steps: training stops after this many env steps; ``None`` leaves it to the Trainer.
        learning_rate: optimizer learning rate.
        anneal_lr: decay the learning rate linearly to 0 over ``total_env_steps`` (by env steps).
        optimizer: optimizer class or factory; called with the parameters and ``lr=learning_rate``.
        buffer_size: replay capacity in transitions, per process.
        batch_size: transitions per gradient step.
        gamma: discount factor in ``[0, 1]``.
        learning_starts: random-action env steps that fill the buffer before learning starts.
        train_frequency: vector-env steps between rounds of gradient steps.
        gradient_steps: gradient steps per round (one Lightning batch).
        max_grad_norm: clip the gradients' global norm to this value before each step (``None``: no clipping).
        target_update_interval: gradient steps between target-network updates.
        tau: target update factor: 1 copies the weights, less than 1 is Polyak averaging.
        start_e: initial epsilon of the epsilon-greedy policy (``None``: 1, or 0 with noisy nets).
        end_e: final epsilon (``None``: 0.05, or 0 with noisy nets).
        exploration_fraction: fraction of ``total_env_steps`` over which epsilon decays.
        exploration_schedule: ``linear`` or ``exponential`` decay of epsilon.
        double_dqn: pick the next action with the online network, value it with the target network.
        n_step: rewards summed per TD target (multi-step returns, as in Rainbow); 1 is plain DQN.
        loss: ``huber`` (smooth L1, as the Nature DQN's clipped error) or ``mse``; the TD loss of
            ``distributional="none"`` (C51 uses cross-entropy, QR-DQN the quantile Huber loss).
        dueling: value and advantage streams, ``Q = V + A - mean A`` (Wang et al. 2016).
        noisy_nets: factorised Gaussian noisy layers (Fortunato et al. 2018), resampled before every
            gradient step (the last draw of a round acts); evaluation uses the mean weights.
            ``start_e``/``end_e`` default to 0 with noisy nets: the noise explores.
        distributional: ``none`` (expected Q-values), ``c51`` (Bellemare et al. 2017: ``num_atoms``
            probabilities on ``[v_min, v_max]``) or ``qr`` (QR-DQN, Dabney et al. 2018: ``num_quantiles``).
        num_atoms: C51's atoms.
        v_min: C51's lowest return.
        v_max: C51's highest return.
        num_quantiles: QR-DQN's quantiles.
        prioritized_replay: sample transitions in proportion to ``(|TD error| + priority_eps) ** priority_alpha``
            (Schaul et al. 2016) and weight their losses by importance weights; the distributional losses
            serve as the error for C51 and QR-DQN.
        priority_alpha: how much prioritization is used, 0 (uniform) to 1.
        priority_beta_start: importance-sampling exponent at the start, annealed linearly to 1 at
            ``total_env_steps`` (on the env-step clock).
        priority_eps: added to each error so that no transition has priority 0.
        network: ``auto`` (Nature CNN for image observations, MLP otherwise), ``mlp``, ``nature_cnn`` or
            ``impala_cnn`` (Espeholt et al. 2018).
        hidden_sizes: hidden layer widths of the MLP.
        eval_episodes: greedy episodes played at each evaluation.
        eval_interval: env steps between evaluations (one training epoch).
        eval_epsilon: exploration rate while evaluating (0 is greedy).
        record_video: after each evaluation, record one episode to ``<log_dir>/videos`` and TensorBoard.
        save_replay_buffer: write the replay buffer next to every checkpoint and reload it on resume.
    """

    def __init__(
        self,
        env_id: str = "CartPole-v1",
        env_kwargs: dict[str, Any] | None = None,
        num_envs: int = 1,
        total_env_steps: int | None = 500_000,
        learning_rate: float = 1e-4,
        anneal_lr: bool = False,
        optimizer: OptimizerCallable = torch.optim.Adam,
        buffer_size: int = 100_000,
        batch_size: int = 64,
        gamma: float = 0.99,
        learning_starts: int = 1000,
        train_frequency: int = 1,
        gradient_steps: int = 1,
        max_grad_norm: float | None = None,
        target_update_interval: int = 1000,
        tau: float = 1.0,
        start_e: float | None = None,
        end_e: float | None = None,
        exploration_fraction: float = 0.1,
        exploration_schedule: str = "linear",
        double_dqn: bool = True,
        n_step: int = 1,
        loss: str = "huber",
        dueling: bool = False,
        noisy_nets: bool = False,
        distributional: str = "none",
        num_atoms: int = 51,
        v_min: float = -10.0,
        v_max: float = 10.0,
        num_quantiles: int = 200,
        prioritized_replay: bool = False,
        priority_alpha: float = 0.5,
        priority_beta_start: float = 0.4,
        priority_eps: float = 1e-6,
        network: str = "auto",
        hidden_sizes: Sequence[int] = (256, 256),
        eval_episodes: int = 20,
        eval_interval: int = 10_000,
        eval_epsilon: float = 0.0,
        record_video: bool = False,
        save_replay_buffer: bool = False,
    ) -> None:
        super().__init__()
        check_choice("loss", loss, LOSSES)
        check_choice("distributional", distributional, DISTRIBUTIONAL)
        if distributional == "c51" and num_atoms < 2:
            raise ConfigurationError(f"num_atoms={num_atoms!r} is invalid: C51 needs at least 2 atoms.")
        if distributional == "qr" and num_quantiles < 2:
            raise ConfigurationError(f"num_quantiles={num_quantiles!r} is invalid: QR-DQN needs at least 2.")
        if not 1 <= n_step <= 255:  # stored as uint8 per transition
            raise ConfigurationError(f"n_step={n_step!r} is invalid: it must lie in [1, 255].")
        if anneal_lr and total_env_steps is None:
            raise ConfigurationError("anneal_lr=True needs total_env_steps: the learning rate decays to 0 over it.")
        check_choice("network", network, NETWORKS)
        check_unit_interval("priority_alpha", priority_alpha)
        check_unit_interval("priority_beta_start", priority_beta_start)
        check_positive("priority_eps", priority_eps)
        check_unit_interval("eval_epsilon", eval_epsilon)
        self.save_hyperparameters(ignore=["optimizer"])
        if noisy_nets and max(start_e or 0.0, end_e or 0.0) > 0.0:
            rank_zero_warn(
                f"noisy_nets=True with start_e={start_e}, end_e={end_e}: epsilon-greedy explores on top of the noisy "
                "layers. Rainbow explores by the noise alone: leave start_e and end_e unset (0 with noisy nets) or "
                "set them to 0."
            )
        if start_e is None:
            start_e = 0.0 if noisy_nets else 1.0
        if end_e is None:
            end_e = 0.0 if noisy_nets else 0.05
        self.init_off_policy(
            optimizer,
            [
                EpsilonDecay(start_e, end_e, exploration_fraction, total_env_steps, schedule=exploration_schedule),
                TargetNetworkUpdate(target_update_interval, tau),
            ],
        )
        self.epsilon = start_e
        # C51's fixed support: not a parameter, but moved with the module (categorical_support checks it).
        support = categorical_support(num_atoms, v_min, v_max) if distributional == "c51" else torch.zeros(0)
        self.register_buffer("support", support, persistent=False)
        self.q_network: nn.Module | None = None
        self.target_network: nn.Module | None = None

    # ----------------------------------------------------------------- construction
    def check_spaces(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise ConfigurationError(
                f"env_id={self.hparams.env_id!r} has action space {action_space}, but DQN needs a Discrete "
                "action space; use SAC, TD3 or PPO for continuous actions."
            )

    def build_networks(self, observation_space: spaces.Box, action_space: spaces.Discrete) -> None:
        self.observation_space, self.action_space = observation_space, action_space
        self.num_actions = int(action_space.n)
        hp = self.hparams
        outputs_per_action = {"none": 1, "c51": hp.num_atoms, "qr": hp.num_quantiles}[hp.distributional]
        self.q_network = build_network(
            observation_space, self.num_actions, hp.network, hp.hidden_sizes,
            dueling=hp.dueling, noisy_nets=hp.noisy_nets, num_outputs_per_action=outputs_per_action,
        )
        self.target_network = copy.deepcopy(self.q_network).requires_grad_(False)

    def make_replay_buffer(self, rank: int, processes_here: int) -> ReplayBuffer | NStepReplayBuffer:
        # Frame stacks get the memory-lean FrameReplayBuffer; both kinds check the free RAM first.
        hp = self.hparams
        buffer = make_replay_buffer(
            self.observation_space, hp.buffer_size, hp.num_envs, processes_here,
            seed=stream_seed_sequence("replay", rank), n_step=hp.n_step, gamma=hp.gamma,
        )
        if hp.n_step > 1 and isinstance(buffer, ReplayBuffer):  # frame buffers sum n steps themselves
            buffer = NStepReplayBuffer(buffer, hp.n_step, hp.gamma, hp.num_envs)
        if hp.prioritized_replay:
            buffer = PrioritizedReplayBuffer(buffer, hp.priority_alpha, self.priority_beta(), hp.priority_eps)
        return buffer

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.q_network.parameters(), lr=self.hparams.learning_rate)

    # ----------------------------------------------------------------- acting
    @torch.inference_mode()
    def act(self, obs: np.ndarray, epsilon: float = 0.0, rng: np.random.Generator | None = None) -> np.ndarray:
        """Epsilon-greedy actions for a batch of observations (one per sub-environment)."""
        rng = self.action_rng if rng is None else rng
        n = len(obs)
        explore = rng.random(n) < epsilon if 0.0 < epsilon < 1.0 else np.full(n, epsilon >= 1.0)
        if explore.all():  # no forward pass when every env explores (the warm-up, early training)
            return rng.integers(self.num_actions, size=n)
        with forward_context(self):  # bf16-mixed acts as fast as it trains; the Q-value head stays float32
            outputs = self.q_network(torch.as_tensor(obs, device=self.device))
        actions = self.q_values(outputs).argmax(dim=1).cpu().numpy()
        if explore.any():
            actions = np.where(explore, rng.integers(self.num_actions, size=n), actions)
        return actions

    def exploration_actions(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
        """The behaviour policy: epsilon-greedy (noisy layers keep their current draw)."""
        return self.act(obs, epsilon)

    def evaluation_actions(self, obs: np.ndarray) -> np.ndarray:
        """The evaluation policy: greedy, or epsilon-greedy with ``eval_epsilon``; noisy layers use their means."""
        with noise_disabled(self.q_network):
            return self.act(obs, self.hparams.eval_epsilon, self.eval_rng)

    def q_values(self, outputs: Tensor) -> Tensor:
        """``[B, A]`` expected returns from the network's outputs (Q-values, C51 logits or quantiles)."""
        kind = self.hparams.distributional
        if kind == "c51":
            return categorical_q_values(outputs.float().softmax(-1), self.support)
        if kind == "qr":
            return quantile_q_values(outputs.float())
        return outputs

    # ----------------------------------------------------------------- learning
    def priority_beta(self) -> float:
        """Prioritized replay's importance-sampling exponent: ``priority_beta_start`` -> 1 over the env steps."""
        hp = self.hparams
        if hp.total_env_steps is None:
            return hp.priority_beta_start
        return linear_schedule(hp.priority_beta_start, 1.0, hp.total_env_steps, self.env_steps)

    def on_train_batch_start(self, batch: ReplayBatch, batch_idx: int) -> None:
        if self.hparams.prioritized_replay:  # the next draws' exponent (this batch was drawn a round ahead)
            self.replay_buffer.beta = self.priority_beta()
            if self.trainer._logger_connector.should_update_logs:
                self.log("train/priority_beta", self.replay_buffer.beta)
        if self.hparams.anneal_lr:  # a function of env steps, so a resumed run continues it exactly
            lr = linear_schedule(self.hparams.learning_rate, 0.0, self.hparams.total_env_steps, self.env_steps)
            for group in self.optimizers(use_pl_optimizer=False).param_groups:
                group["lr"] = lr

    def td_loss(self, batch: ReplayBatch, next_target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One minibatch's per-transition losses and priorities, and its Q-values taken.

        ``next_target`` is the target network's output for ``batch.next_obs``. The priorities are what
        prioritized replay ranks by: the absolute TD error, or the distributional loss.
        """
        hp = self.hparams
        outputs = self.q_network(batch.obs)
        with torch.no_grad():
            next_online = self.q_network(batch.next_obs).float() if hp.double_dqn else None
        actions = batch.actions.long()
        if hp.distributional == "c51":
            log_probs = gather_actions(outputs.float().log_softmax(-1), actions)
            with torch.no_grad():
                online_probs = None if next_online is None else next_online.softmax(-1)
                next_probs = categorical_next_probs(next_target.float().softmax(-1), self.support, online_probs)
                target = categorical_projection(
                    next_probs, batch.rewards, batch.terminated, hp.gamma, batch.n_steps, self.support
                )
            losses = categorical_cross_entropy(log_probs, target)
            return losses, losses.detach(), categorical_q_values(log_probs.detach().exp(), self.support)
        if hp.distributional == "qr":
            quantiles = gather_actions(outputs.float(), actions)
            with torch.no_grad():
                next_quantiles = quantile_next_quantiles(next_target.float(), next_online)
                target = quantile_targets(next_quantiles, batch.rewards, batch.terminated, hp.gamma, batch.n_steps)
            losses = quantile_huber_loss(quantiles, target)
            return losses, losses.detach(), quantile_q_values(quantiles.detach())
        q_taken = outputs.gather(1, actions.unsqueeze(1)).squeeze(1).float()
        with torch.no_grad():
            targets = td_targets(batch.rewards, batch.terminated, next_target, hp.gamma, next_online, batch.n_steps)
        losses = LOSSES[hp.loss](q_taken, targets, reduction="none")
        return losses, (q_taken.detach() - targets).abs(), q_taken.detach()

    def training_step(self, batch: ReplayBatch, batch_idx: int) -> Tensor:
        optimizer = self.optimizers()
        gradient_steps = self.hparams.gradient_steps
        noisy = self.hparams.noisy_nets
        with torch.no_grad():
            if noisy:
                reset_noise(self.target_network, self.noise_generator)
            # The target network only changes between rounds (TargetNetworkUpdate runs after the
            # batch), so one forward pass values the next states of all the round's minibatches.
            next_targets = self.target_network(batch.next_obs).split(self.hparams.batch_size)
        losses, q_taken = [], []
        steps = zip(batch.split(gradient_steps), next_targets, strict=True)
        for minibatch, next_target in itertools.islice(steps, optimizer_steps_allowed(self, gradient_steps)):
            if noisy:
                reset_noise(self.q_network, self.noise_generator)
            minibatch_losses, priorities, minibatch_q_taken = self.td_loss(minibatch, next_target)
            if minibatch.weights is None:
                loss = minibatch_losses.mean()
            else:  # prioritized replay: importance weights correct the sampling's bias
                loss = (minibatch.weights.to(minibatch_losses) * minibatch_losses).mean()
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            optimizer.step()  # clips in on_before_optimizer_step; counts trainer.global_step
            self.gradient_updates += 1
            if minibatch.indices is not None:
                self.replay_buffer.update_priorities(minibatch.indices, priorities)
            losses.append(loss.detach())
            q_taken.append(minibatch_q_taken.detach())
        losses = torch.stack(losses)
        if self.replay_dataset is not None:
            self.replay_dataset.mark_trained()
        advice = "Try a lower learning_rate or gradient clipping (--model.max_grad_norm)."
        check_losses_finite(self, losses, self.global_step - len(losses), advice)
        loss = losses.mean()
        if self.trainer._logger_connector.should_update_logs:
            self.log("train/loss", loss)
            self.log("train/q_values", torch.cat(q_taken).mean())
        return loss  # the round's mean loss, detached: the gradient steps are taken
