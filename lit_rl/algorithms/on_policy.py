"""What REINFORCE, A2C and PPO share: acting, rollout data, evaluation and checkpoints.

Each algorithm is a LightningModule that subclasses ``OnPolicyModule`` once, defines its
hyperparameters in ``__init__`` and its loss in ``compute_loss``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import lightning as L
import numpy as np
import torch
from gymnasium import spaces
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from torch.utils.data import DataLoader

from lit_rl.algorithms.common import (
    action_space_record,
    callbacks_not_given,
    check_losses_finite,
    checkpoint_record,
    clip_grad_norm,
    evaluate_and_log,
    forward_context,
    open_evaluation_env,
    optimizer_steps_allowed,
    recorded_action_space,
    recorded_observation_space,
    reject_trainer_gradient_clipping,
)
from lit_rl.atari import is_native_atari
from lit_rl.callbacks.cpu_threads import CpuThreads
from lit_rl.callbacks.evaluation_video import EvaluationVideo
from lit_rl.callbacks.rollout_collector import RolloutCollector
from lit_rl.checks import ConfigurationError, check_choice, check_non_negative, check_positive, check_unit_interval
from lit_rl.envs import check_env_id
from lit_rl.networks import NETWORKS
from lit_rl.networks.actor_critic import ActorCritic
from lit_rl.policy_losses import explained_variance
from lit_rl.rollout_buffer import RolloutBatch, RolloutBuffer
from lit_rl.rollout_dataset import RolloutDataset
from lit_rl.schedules import linear_schedule
from lit_rl.seeding import torch_stream


class OnPolicyModule(L.LightningModule):
    """Base of the on-policy algorithms; one training epoch is one rollout, served as one batch.

    ``training_step`` runs all of a rollout's updates itself (manual optimization): ``update_epochs``
    shuffled passes of ``num_minibatches`` minibatches, one optimizer step each, so
    ``trainer.global_step`` counts those optimizer steps. A subclass calls
    ``self.save_hyperparameters(ignore=["optimizer"])`` and then
    ``self.init_on_policy(optimizer, update_epochs, num_minibatches)`` in its ``__init__`` and
    implements ``compute_loss(batch) -> (loss, metrics)``; it may override ``stop_updates``.
    """

    def init_on_policy(self, optimizer: OptimizerCallable, update_epochs: int, num_minibatches: int) -> None:
        hp = self.hparams
        check_env_id(hp.env_id)
        check_positive("num_envs", hp.num_envs)
        check_positive("num_steps", hp.num_steps)
        check_positive("update_epochs", update_epochs)
        check_positive("num_minibatches", num_minibatches)
        if (hp.num_envs * hp.num_steps) % num_minibatches:
            raise ConfigurationError(
                f"num_minibatches={num_minibatches} is invalid: the rollout of num_envs * num_steps = "
                f"{hp.num_envs} * {hp.num_steps} = {hp.num_envs * hp.num_steps} steps must split into "
                "whole minibatches; choose a divisor of it."
            )
        check_unit_interval("gamma", hp.gamma)
        check_unit_interval("gae_lambda", hp.get("gae_lambda", 1.0))
        check_positive("learning_rate", hp.learning_rate)
        check_non_negative("ent_coef", hp.ent_coef)
        check_non_negative("vf_coef", hp.vf_coef)
        if hp.max_grad_norm is not None:
            check_positive("max_grad_norm", hp.max_grad_norm)
        if hp.anneal_lr and hp.total_env_steps is None:
            raise ConfigurationError("anneal_lr=True needs total_env_steps: the learning rate reaches 0 there.")
        check_choice("network", hp.network, NETWORKS)
        check_positive("eval_episodes", hp.eval_episodes)
        check_positive("eval_interval", hp.eval_interval)
        self.optimizer_factory = optimizer
        self.update_epochs, self.num_minibatches = update_epochs, num_minibatches
        self.automatic_optimization = False  # training_step runs the rollout's minibatch updates
        # Built here so that bad values stop the run before any env exists; see configure_callbacks.
        overlap = hp.get("overlap_env_steps", False)
        if overlap and not is_native_atari(hp.env_id, hp.get("env_kwargs")):
            raise ConfigurationError(
                "overlap_env_steps=True needs ale-py's native Atari env (an ALE/<Game>-v5 or <Game>NoFrameskip-v4 "
                f"env_id, backend 'native'), not env_id={hp.env_id!r} with env_kwargs={hp.get('env_kwargs')}; "
                "set overlap_env_steps=False."
            )
        collector = RolloutCollector(hp.num_envs, hp.num_steps, hp.total_env_steps, overlap_env_steps=overlap)
        self.default_callbacks = [CpuThreads(), collector]
        if hp.get("record_video"):
            self.default_callbacks.append(EvaluationVideo())
        self.env_steps = 0
        self.num_evaluations = 0
        self.next_eval_step = hp.eval_interval
        self.policy: ActorCritic | None = None
        # Each rank's own action noise and minibatch order (seeding.py); built in setup on the device.
        self.sampling_generator: torch.Generator | None = None
        self.shuffle_generator: torch.Generator | None = None
        self.rollout_buffer: RolloutBuffer | None = None
        self.rollout_explained_variance = torch.tensor(float("nan"))
        self.eval_env = None

    # ----------------------------------------------------------------- construction
    def build_networks(self, observation_space: spaces.Box, action_space: spaces.Space) -> None:
        self.observation_space, self.action_space = observation_space, action_space
        hp = self.hparams
        self.policy = ActorCritic(
            observation_space, action_space, hp.hidden_sizes, hp.network, hp.log_std_init
        )

    def setup(self, stage: str) -> None:
        hp = self.hparams
        rank = self.trainer.global_rank if self._trainer is not None else 0
        self.eval_env, observation_space, action_space = open_evaluation_env(self)
        if self.policy is None:
            self.build_networks(observation_space, action_space)
        if stage == "fit":
            space = self.observation_space
            continuous = isinstance(self.action_space, spaces.Box)
            self.rollout_buffer = RolloutBuffer(
                hp.num_steps,
                hp.num_envs,
                space.shape,
                space.dtype,
                self.action_space.shape if continuous else (),
                torch.float32 if continuous else torch.int64,
            )
            self.rollout_dataset = RolloutDataset(self.rollout_buffer)
            self.seed_streams(rank)
            self.warn_if_max_epochs_ends_training_early()

    def seed_streams(self, rank: int, *extra: int) -> None:
        """Give this rank its own action-sampling and shuffling streams (``extra``: a resumed rank's words)."""
        # The device the Trainer will move the module to: sampling draws on the logits' device.
        device = self.trainer.strategy.root_device if self._trainer is not None else self.device
        self.sampling_generator = torch_stream("policy_sampling", rank, *extra, device=device)
        self.shuffle_generator = torch_stream("shuffle", rank, *extra)

    def warn_if_max_epochs_ends_training_early(self) -> None:
        # One epoch is one rollout: Lightning's default max_epochs=1000 may stop far short of the budget.
        max_epochs, total = self.trainer.max_epochs, self.hparams.total_env_steps
        if total is None or max_epochs is None or max_epochs < 0:
            return
        reachable = max_epochs * self.rollout_env_steps()
        if reachable < total:
            rank_zero_warn(
                f"Trainer(max_epochs={max_epochs}) stops training after {reachable:,} env steps (one epoch is "
                f"one rollout), before total_env_steps={total:,}; pass max_epochs=-1 to train to the budget."
            )

    def teardown(self, stage: str) -> None:
        if self.eval_env is not None:
            self.eval_env.close()
            self.eval_env = None

    def configure_callbacks(self) -> list[L.Callback]:
        reject_trainer_gradient_clipping(self)  # here: Lightning calls this before its own checks
        return callbacks_not_given(self, self.default_callbacks)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(self.parameters(), lr=self.hparams.learning_rate)

    # ----------------------------------------------------------------- acting
    @torch.inference_mode()
    def act(self, obs: np.ndarray) -> tuple[np.ndarray, Tensor, Tensor, Tensor]:
        """Sample actions for a batch of observations.

        Returns the actions to send to the env (Box actions clipped to the bounds), the sampled
        actions to store (unclipped: their log-probabilities are the ones the loss needs), their
        log-probabilities and the value estimates.
        """
        # Under the Trainer's precision, so that the stored log-probabilities are the ones the loss
        # recomputes (bf16-mixed otherwise starts every PPO update with ratios != 1).
        with forward_context(self):
            dist, values = self.policy(torch.as_tensor(obs, device=self.device))
        actions = ActorCritic.sample(dist, self.sampling_generator)
        logprobs = dist.log_prob(actions)
        actions = actions.cpu()
        env_actions = actions.numpy()
        if isinstance(self.action_space, spaces.Box):
            env_actions = np.clip(env_actions, self.action_space.low, self.action_space.high)
        return env_actions, actions, logprobs, values

    @torch.inference_mode()
    def act_greedy(self, obs: np.ndarray) -> np.ndarray:
        with forward_context(self):
            dist, _ = self.policy(torch.as_tensor(obs, device=self.device))
        actions = ActorCritic.greedy(dist).cpu().numpy()
        if isinstance(self.action_space, spaces.Box):
            actions = np.clip(actions, self.action_space.low, self.action_space.high)
        return actions

    evaluation_actions = act_greedy  # the policy that evaluation and EvaluationVideo play

    @property
    def hparams_initial(self) -> Any:
        """What loggers record as the hyperparameters (TensorBoard's HParams): ``hparams`` and the evaluation policy."""
        hparams = super().hparams_initial  # a copy
        hparams["eval_policy"] = "greedy"  # DQN's hparams say eval_epsilon instead
        return hparams

    @torch.inference_mode()
    def finish_rollout(self, next_obs: np.ndarray) -> None:
        """Compute the rollout's advantages; the collector calls this after the last step."""
        buffer = self.rollout_buffer
        with forward_context(self):  # as the rollout's own values were computed
            next_value = self.policy.value(torch.as_tensor(next_obs, device=self.device))
        buffer.compute_returns(next_value, self.hparams.gamma, self.hparams.get("gae_lambda", 1.0))
        self.rollout_explained_variance = explained_variance(buffer.values, buffer.returns, buffer.valid)

    # ----------------------------------------------------------------- learning
    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.rollout_dataset, batch_size=None, num_workers=0, pin_memory=self.device.type == "cuda"
        )

    def rollout_env_steps(self) -> int:
        """Env steps in one rollout, over all ranks."""
        return len(self.rollout_buffer) * self.trainer.world_size

    def progress_env_steps(self) -> int:
        """Env steps taken before the current rollout: the clock of the annealing schedules."""
        return self.env_steps - self.rollout_env_steps()

    def compute_loss(self, batch: RolloutBatch) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def stop_updates(self, metrics: dict[str, Tensor]) -> bool:
        """Whether to skip the rest of this rollout's updates after the one that gave ``metrics``."""
        return False

    def minibatches(self, batch: RolloutBatch) -> Iterator[RolloutBatch]:
        """``update_epochs`` passes over the rollout, each in ``num_minibatches`` shuffled minibatches."""
        size = len(batch.valid) // self.num_minibatches
        for _ in range(self.update_epochs):
            if self.num_minibatches == 1:  # the losses are means: a permutation would change nothing
                yield batch
                continue
            order = torch.randperm(len(batch.valid), generator=self.shuffle_generator).to(batch.valid.device)
            for start in range(0, len(order), size):
                yield batch.rows(order[start : start + size])

    def training_step(self, batch: RolloutBatch, batch_idx: int) -> None:
        """All of one rollout's updates: ``update_epochs`` shuffled passes of ``num_minibatches`` each."""
        if batch.rollout_id != self.rollout_buffer.rollout_id:
            raise RuntimeError(
                f"training_step got rollout {batch.rollout_id}, but rollout {self.rollout_buffer.rollout_id} "
                "is the current one: on-policy data went stale."
            )
        hp = self.hparams
        opt = self.optimizers()
        if hp.anneal_lr:
            lr = linear_schedule(hp.learning_rate, 0.0, hp.total_env_steps, self.progress_env_steps())
            for group in opt.param_groups:
                group["lr"] = lr
        first_step = self.global_step
        losses, metrics = [], {}
        updates = self.update_epochs * self.num_minibatches
        for minibatch in itertools.islice(self.minibatches(batch), optimizer_steps_allowed(self, updates)):
            loss, step_metrics = self.compute_loss(minibatch)
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            opt.step()  # clips the gradients first: see on_before_optimizer_step
            losses.append(loss.detach())
            for name, value in step_metrics.items():
                metrics.setdefault(name, []).append(value.detach())
            if self.stop_updates(step_metrics):
                break
        losses = torch.stack(losses)
        check_losses_finite(self, losses, first_step, "Try a lower learning_rate or a smaller max_grad_norm.")
        if self.trainer._logger_connector.should_update_logs:
            # Means over the updates this rollout ran, as Stable-Baselines3 logs them.
            self.log("train/loss", losses.mean())
            for name, values in metrics.items():
                self.log(f"train/{name}", torch.stack(values).mean())
            self.log("train/explained_variance", self.rollout_explained_variance)
            self.log("train/learning_rate", opt.param_groups[0]["lr"])

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Lightning calls this after backward and after unscaling mixed-precision gradients.
        if self.hparams.max_grad_norm is not None:  # global norm over all parameters, as in PPO
            clip_grad_norm(optimizer, self.hparams.max_grad_norm)

    # ----------------------------------------------------------------- evaluation
    def val_dataloader(self) -> DataLoader:
        return DataLoader([0], batch_size=None)  # one step; validation_step plays the episodes

    test_dataloader = val_dataloader

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        if self.trainer.sanity_checking:
            return  # an untrained agent's score says nothing; skip the sanity-check episodes
        if self.trainer.state.fn == "fit":
            # Every epoch ends with a validation loop; play episodes every eval_interval env steps
            # and after the last rollout only.
            total = self.hparams.total_env_steps
            last = total is not None and self.env_steps + self.rollout_env_steps() > total
            if self.env_steps < self.next_eval_step and not last:
                return
            interval = self.hparams.eval_interval
            self.next_eval_step = (self.env_steps // interval + 1) * interval
        evaluate_and_log(self, self.act_greedy, self.eval_env)

    test_step = validation_step

    # ----------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["lit_rl"] = {
            "algorithm": type(self).__name__,
            "env_id": self.hparams.env_id,
            "env_steps": self.env_steps,
            "next_eval_step": self.next_eval_step,
            "observation_shape": list(self.observation_space.shape),
            "observation_dtype": str(self.observation_space.dtype),
            **action_space_record(self.action_space),
            # Random streams, so that a resumed run samples and shuffles as if it had never stopped.
            "sampling_generator": None if self.sampling_generator is None else self.sampling_generator.get_state(),
            "shuffle_generator": None if self.shuffle_generator is None else self.shuffle_generator.get_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint_record(self, checkpoint)
        if self.policy is None:  # load_from_checkpoint: no env was created, rebuild from the record
            self.build_networks(recorded_observation_space(state), recorded_action_space(state))
        self.env_steps = int(state["env_steps"])
        self.next_eval_step = int(state["next_eval_step"])
        if self.sampling_generator is None:  # load_from_checkpoint: nothing samples yet
            return
        if self.trainer.world_size > 1:
            # The checkpoint holds rank 0's streams; every rank continues with its own, seeded apart.
            self.seed_streams(self.trainer.global_rank, self.env_steps)
        elif state.get("sampling_generator") is not None:
            self.sampling_generator.set_state(state["sampling_generator"])
            self.shuffle_generator.set_state(state["shuffle_generator"])
