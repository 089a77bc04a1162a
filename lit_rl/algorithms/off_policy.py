"""What DQN, SAC and TD3 share: replay data, env stepping, evaluation, gradient clipping and checkpoints.

Each algorithm is a LightningModule that subclasses ``OffPolicyModule`` once. Its ``__init__`` calls
``self.save_hyperparameters(ignore=["optimizer"])`` and then ``self.init_off_policy(...)``; it implements
``check_spaces``, ``build_networks``, ``exploration_actions``, ``evaluation_actions`` and
``training_step``, and may override ``make_replay_buffer``.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from gymnasium import spaces
from lightning.pytorch.cli import OptimizerCallable
from torch.utils.data import DataLoader

from lit_rl.algorithms.common import (
    action_space_record,
    callbacks_not_given,
    checkpoint_record,
    clip_grad_norm,
    evaluate_and_log,
    open_evaluation_env,
    recorded_action_space,
    recorded_observation_space,
    reject_trainer_gradient_clipping,
)
from lit_rl.callbacks.cpu_threads import CpuThreads
from lit_rl.callbacks.evaluation_video import EvaluationVideo
from lit_rl.callbacks.replay_collector import ReplayCollector
from lit_rl.callbacks.replay_snapshot import ReplaySnapshot
from lit_rl.checks import ConfigurationError, check_positive, check_unit_interval
from lit_rl.envs import check_env_id
from lit_rl.frame_replay_buffer import make_replay_buffer
from lit_rl.replay_buffer import ReplayBatch
from lit_rl.replay_dataset import ReplayDataset
from lit_rl.seeding import numpy_stream, stream_seed_sequence, torch_stream


class OffPolicyModule(L.LightningModule):
    """Base of the off-policy algorithms: one Lightning batch is one round of ``gradient_steps`` minibatches.

    Training alternates rounds as in Stable-Baselines3: ``train_frequency`` vector-env steps of each
    process (``ReplayCollector``), then ``gradient_steps`` gradient steps, which ``training_step`` takes
    itself (manual optimization), so Lightning's per-batch work is paid once per round. Env steps are
    counted over all sub-environments and all processes, in ``env_steps``; one training epoch is
    ``eval_interval`` env steps and ends with an evaluation.
    """

    def init_off_policy(self, optimizer: OptimizerCallable, algorithm_callbacks: list[L.Callback]) -> None:
        """Check the shared hyperparameters and set up the state every off-policy module has."""
        hp = self.hparams
        check_env_id(hp.env_id)
        check_positive("num_envs", hp.num_envs)
        check_positive("buffer_size", hp.buffer_size)
        check_positive("batch_size", hp.batch_size)
        if hp.batch_size > hp.buffer_size:
            raise ConfigurationError(
                f"batch_size={hp.batch_size} is invalid: it must be <= buffer_size={hp.buffer_size}."
            )
        if hp.learning_starts < hp.batch_size:
            raise ConfigurationError(
                f"learning_starts={hp.learning_starts} is invalid: it must be >= batch_size={hp.batch_size}."
            )
        check_unit_interval("gamma", hp.gamma)
        check_positive("learning_rate", hp.learning_rate)
        check_positive("gradient_steps", hp.gradient_steps)
        if hp.max_grad_norm is not None:
            check_positive("max_grad_norm", hp.max_grad_norm)
        check_positive("eval_episodes", hp.eval_episodes)
        check_positive("eval_interval", hp.eval_interval)
        self.automatic_optimization = False  # gradient_steps optimizer steps per Lightning batch
        self.optimizer_factory = optimizer
        # Built here so that bad values stop the run before any env exists; see configure_callbacks.
        self.default_callbacks = [
            CpuThreads(),
            ReplayCollector(hp.num_envs, hp.learning_starts, hp.train_frequency, hp.total_env_steps),
            *algorithm_callbacks,
        ]
        if hp.record_video:
            self.default_callbacks.append(EvaluationVideo())
        if hp.save_replay_buffer:
            self.default_callbacks.append(ReplaySnapshot())
        self.env_steps = 0
        self.gradient_updates = 0  # gradient steps taken; trainer.global_step counts every optimizer's steps
        self.num_evaluations = 0
        self.epsilon = 0.0  # the collector's chance of a uniformly random action (EpsilonDecay sets DQN's)
        self.observation_space: spaces.Space | None = None  # set by build_networks
        self.action_space: spaces.Space | None = None
        self.replay_buffer = None
        self.replay_dataset: ReplayDataset | None = None
        self.resume_batch: ReplayBatch | None = None  # a checkpoint's unused batch, served first
        self.eval_env = None
        # Independent streams (seeding.py), re-seeded per rank in setup(): exploration, evaluation, and
        # the networks' random draws (noisy nets, SAC's policy samples, TD3's noise).
        self.action_rng = numpy_stream("action")
        self.eval_rng = numpy_stream("evaluation")
        self.noise_generator = torch_stream("noise")

    # ----------------------------------------------------------------- the subclass's part
    def check_spaces(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        """Raise a ``ConfigurationError`` naming the env if the algorithm cannot learn in these spaces."""
        raise NotImplementedError

    def build_networks(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        """Create the networks; must set ``self.observation_space`` and ``self.action_space``."""
        raise NotImplementedError

    def exploration_actions(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
        """The behaviour policy's env actions; ``epsilon`` is each env's chance of a uniformly random action."""
        raise NotImplementedError

    def evaluation_actions(self, obs: np.ndarray) -> np.ndarray:
        """The evaluation policy's env actions."""
        raise NotImplementedError

    def make_replay_buffer(self, rank: int, processes_here: int) -> Any:
        """This process's replay buffer (frame stacks get the memory-lean ``FrameReplayBuffer``)."""
        hp = self.hparams
        return make_replay_buffer(
            self.observation_space, hp.buffer_size, hp.num_envs, processes_here,
            seed=stream_seed_sequence("replay", rank), action_space=self.action_space,
        )

    # ----------------------------------------------------------------- Lightning's hooks
    def setup(self, stage: str) -> None:
        rank = self.trainer.global_rank if self._trainer is not None else 0
        self.eval_env, observation_space, action_space = open_evaluation_env(self)
        self.check_spaces(observation_space, action_space)
        if self.observation_space is None:
            self.build_networks(observation_space, action_space)
        self.seed_streams(rank)
        if stage == "fit":
            processes_here = self.trainer.num_devices if self._trainer is not None else 1
            self.replay_buffer = self.make_replay_buffer(rank, processes_here)

    def seed_streams(self, rank: int, *extra: int) -> None:
        """Give this rank its own streams (``extra``: the words of a resumed rank's fresh streams)."""
        # The device the Trainer will move the module to: the networks draw their noise there.
        device = self.trainer.strategy.root_device if self._trainer is not None else self.device
        self.action_rng = numpy_stream("action", rank, *extra)
        self.eval_rng = numpy_stream("evaluation")
        self.noise_generator = torch_stream("noise", rank, *extra, device=device)
        if self.replay_buffer is not None and extra:
            self.replay_buffer.rng.bit_generator.state = numpy_stream("replay", rank, *extra).bit_generator.state

    def teardown(self, stage: str) -> None:
        if self.eval_env is not None:
            self.eval_env.close()
            self.eval_env = None

    def configure_callbacks(self) -> list[L.Callback]:
        reject_trainer_gradient_clipping(self)  # here: Lightning calls this before its own checks
        return callbacks_not_given(self, self.default_callbacks)

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        env_steps_per_round = hp.train_frequency * hp.num_envs * self.trainer.world_size
        rounds_per_epoch = max(1, round(hp.eval_interval / env_steps_per_round))
        # One batch per round: the round's gradient_steps minibatches, sampled in one gather.
        self.replay_dataset = ReplayDataset(self.replay_buffer, hp.batch_size * hp.gradient_steps, rounds_per_epoch)
        if self.resume_batch is not None:
            self.replay_dataset.serve_first(self.resume_batch)
            self.resume_batch = None
        return DataLoader(self.replay_dataset, batch_size=None, num_workers=0, pin_memory=self.device.type == "cuda")

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Lightning calls this after unscaling mixed-precision gradients, so the norm is the true one.
        if self.hparams.max_grad_norm is not None:
            clip_grad_norm(optimizer, self.hparams.max_grad_norm)

    def val_dataloader(self) -> DataLoader:
        return DataLoader([0], batch_size=None)  # one step; validation_step plays the episodes

    test_dataloader = val_dataloader

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        if self.trainer.sanity_checking:
            return  # an untrained agent's score says nothing; skip the sanity-check episodes
        evaluate_and_log(self, self.evaluation_actions, self.eval_env)

    test_step = validation_step

    # ----------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        unused = None if self.replay_dataset is None else self.replay_dataset.unused_batch()
        checkpoint["lit_rl"] = {
            "algorithm": type(self).__name__,
            "env_id": self.hparams.env_id,
            "env_steps": self.env_steps,
            "gradient_updates": self.gradient_updates,
            "epsilon": self.epsilon,
            "observation_shape": list(self.observation_space.shape),
            "observation_dtype": str(self.observation_space.dtype),
            **action_space_record(self.action_space),
            # Random streams, so that a resumed run explores and samples as if it had never stopped.
            "action_rng": self.action_rng.bit_generator.state,
            "eval_rng": self.eval_rng.bit_generator.state,
            "noise_generator": self.noise_generator.get_state(),
            "replay_rng": None if self.replay_buffer is None else self.replay_buffer.rng.bit_generator.state,
            # Lightning draws each batch one round ahead: the resumed run trains on it first.
            "unused_batch": None if unused is None else {k: v for k, v in unused._asdict().items() if v is not None},
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint_record(self, checkpoint)
        if self.observation_space is None:  # load_from_checkpoint: no env was created, rebuild from the record
            self.build_networks(recorded_observation_space(state), recorded_action_space(state))
        self.env_steps = int(state["env_steps"])
        self.gradient_updates = int(state.get("gradient_updates", 0))
        self.epsilon = float(state["epsilon"])
        if self._trainer is not None and self.trainer.world_size > 1:
            # The checkpoint holds rank 0's streams; every rank continues with its own, seeded apart.
            self.seed_streams(self.trainer.global_rank, self.env_steps)
            return
        self.action_rng.bit_generator.state = state["action_rng"]
        if "eval_rng" in state:  # checkpoints of older lit_rl versions lack the newer streams
            self.eval_rng.bit_generator.state = state["eval_rng"]
        if "noise_generator" in state:
            self.noise_generator.set_state(state["noise_generator"])
        if self.replay_buffer is not None and state["replay_rng"] is not None:
            self.replay_buffer.rng.bit_generator.state = state["replay_rng"]
        if self._trainer is not None and state.get("unused_batch") is not None:
            self.resume_batch = ReplayBatch(**state["unused_batch"])
