"""Episode returns, lengths and throughput, as seen by an environment-stepping callback."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import numpy as np
from torchmetrics.aggregation import MeanMetric


class EpisodeStatistics:
    """Averages the episodes finished since the last log, and the env steps per second.

    Reads gymnasium's ``RecordEpisodeStatistics`` info (``info["episode"]``, ``info["_episode"]``),
    so returns are whole-episode, unclipped scores whatever the training reward is. The means are
    torchmetrics, so under DDP they are averaged over the episodes of every rank.
    """

    def __init__(self) -> None:
        self.returns = MeanMetric(nan_strategy="error")
        self.lengths = MeanMetric(nan_strategy="error")
        self.episodes = 0
        self._clock: tuple[float, int] | None = None

    def record(self, info: dict[str, Any]) -> None:
        if "episode" not in info:
            return
        done = info["_episode"]
        if done.any():
            self.returns.update(np.asarray(info["episode"]["r"][done], dtype=np.float32))
            self.lengths.update(np.asarray(info["episode"]["l"][done], dtype=np.float32))
            self.episodes += int(done.sum())

    def log(self, pl_module: L.LightningModule, env_steps: int) -> None:
        """Log ``rollout/*`` and ``perf/env_steps_per_sec``, then start a new averaging window."""
        pl_module.log("rollout/env_steps", float(env_steps), prog_bar=True)
        now = time.perf_counter()
        if self._clock is not None and env_steps > self._clock[1]:
            rate = (env_steps - self._clock[1]) / (now - self._clock[0])
            pl_module.log("perf/env_steps_per_sec", rate)
        self._clock = (now, env_steps)
        # On the module's device: NCCL, the process group of multi-GPU runs, refuses CPU tensors.
        self.returns.to(pl_module.device)
        self.lengths.to(pl_module.device)
        # Under DDP, compute() synchronises: every rank must call it at the same step, even one
        # that finished no episode. A zero-weight update makes that rank's empty window valid.
        self.returns.update(0.0, weight=0.0)
        self.lengths.update(0.0, weight=0.0)
        mean_return, mean_length = self.returns.compute(), self.lengths.compute()
        if mean_return.isfinite():  # NaN (0 / 0) when no rank finished an episode
            # Straight to the loggers: through self.log, Lightning would write the last window's
            # mean again at every later log step of the epoch, even when no episode finished.
            metrics = {"rollout/episodic_return": mean_return.item(), "rollout/episodic_length": mean_length.item()}
            for logger in pl_module.loggers:
                # The step Lightning gives self.log's metrics, so that all curves share one x-axis.
                logger.log_metrics(metrics, step=pl_module.trainer.fit_loop.epoch_loop._batches_that_stepped)
            pl_module.log("rollout/episodic_return", metrics["rollout/episodic_return"], prog_bar=True, logger=False)
            pl_module.log("rollout/episodic_length", metrics["rollout/episodic_length"], logger=False)
        self.returns.reset()
        self.lengths.reset()

    def state_dict(self) -> dict[str, Any]:
        """The episode count and this process's averaging window (episodes finished since the last log)."""
        # MeanMetric's states: the weighted sum of the values (named mean_value) and the sum of weights.
        window = {name: [float(metric.mean_value), float(metric.weight)] for name, metric in self._metrics()}
        return {"episodes": self.episodes, "window": window}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.episodes = int(state["episodes"])

    def load_window(self, state: dict[str, Any]) -> None:
        """Continue the averaging window a ``state_dict`` holds (a single-process resume)."""
        for name, metric in self._metrics():
            if name in state.get("window", {}):
                weighted_sum, weight = state["window"][name]
                metric.reset()
                metric.mean_value.fill_(weighted_sum)
                metric.weight.fill_(weight)

    def _metrics(self) -> list[tuple[str, MeanMetric]]:
        return [("returns", self.returns), ("lengths", self.lengths)]
