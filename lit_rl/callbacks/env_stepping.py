"""What every environment-stepping callback does: own a seeded vector env and count its steps."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import lightning as L
import numpy as np
import torch

from lit_rl.checks import check_positive
from lit_rl.cpu import threads_per_process
from lit_rl.env_state import restore_vector_env_state, vector_env_state
from lit_rl.envs import episodes_ended, make_vector_env
from lit_rl.episode_statistics import EpisodeStatistics
from lit_rl.seeding import run_seed


class EnvStepping(L.Callback):
    """Opens the module's env as a ``num_envs`` vector env in ``setup("fit")``; closes it in ``teardown``.

    Sub-environment ``i`` of rank ``r`` is seeded ``seed + r * num_envs + i``. A checkpoint holds the
    env's state where it can be saved (``lit_rl.env_state``: classic-control and toy-text envs), so a
    single-process run resumed from it continues its episodes exactly; other envs (Atari, MuJoCo), and
    every rank of a multi-process run, start new episodes, seeded apart from the ones the run began with.
    Subclasses step ``self.env`` and call ``self.after_step(pl_module, next_obs, info)``.
    """

    def __init__(self, num_envs: int) -> None:
        check_positive("num_envs", num_envs)
        self.num_envs = num_envs
        self.statistics = EpisodeStatistics()
        self.env: gym.vector.VectorEnv | None = None
        self.saved_state: dict[str, Any] | None = None  # from a checkpoint, applied in on_fit_start

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        hp = pl_module.hparams
        threads = threads_per_process(trainer.num_devices)  # the share CpuThreads gives torch
        self.env = self.make_env(hp.env_id, hp.get("env_kwargs"), threads)
        self.seed = run_seed() + trainer.global_rank * self.num_envs
        self.obs, _ = self.env.reset(seed=self.seed)
        # With next-step autoreset, the step after an episode ends only resets that env.
        self.resetting = np.zeros(self.num_envs, dtype=bool)
        self.steps_per_vector_step = self.num_envs * trainer.world_size

    def make_env(self, env_id: str, env_kwargs: dict[str, Any] | None, threads: int) -> gym.vector.VectorEnv:
        """The ``num_envs`` vector env this callback steps (``threads``: the native Atari env's emulator threads)."""
        return make_vector_env(env_id, self.num_envs, env_kwargs, num_threads=threads)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if pl_module.env_steps == 0:
            return
        # Resumed from a checkpoint: continue its episodes where the env allows it, else start new ones.
        saved, self.saved_state = self.saved_state, None
        if saved is not None and trainer.world_size == 1:  # a checkpoint holds rank 0's state only
            self.statistics.load_window(saved)
            if restore_vector_env_state(self.env, saved.get("env")):
                self.obs = saved["obs"].numpy().copy()
                self.resetting = saved["resetting"].numpy().copy()
                return
        self.obs, _ = self.env.reset(seed=self.seed + pl_module.env_steps)
        self.resetting[:] = False

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer._logger_connector.should_update_logs:
            self.statistics.log(pl_module, pl_module.env_steps)

    def after_step(self, pl_module: L.LightningModule, next_obs: np.ndarray, info: dict[str, Any]) -> None:
        """Advance to ``next_obs``, count the env steps of all ranks, record finished episodes."""
        self.resetting = episodes_ended(info, self.num_envs)
        self.obs = next_obs
        pl_module.env_steps += self.steps_per_vector_step
        self.statistics.record(info)

    def state_dict(self) -> dict[str, Any]:
        state = self.statistics.state_dict()
        if self.env is not None:
            state["env"] = vector_env_state(self.env)
            state["obs"] = torch.from_numpy(np.array(self.obs))
            state["resetting"] = torch.from_numpy(self.resetting.copy())
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.statistics.load_state_dict(state_dict)
        self.saved_state = state_dict
