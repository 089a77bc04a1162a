"""The epsilon-greedy exploration schedule."""

from __future__ import annotations

from typing import Any

import lightning as L

from lit_rl.checks import ConfigurationError, check_choice, check_positive, check_unit_interval
from lit_rl.schedules import SCHEDULES


class EpsilonDecay(L.Callback):
    """Set ``pl_module.epsilon`` from the env-step counter ``pl_module.env_steps``.

    Epsilon moves from ``start_e`` to ``end_e`` over ``exploration_steps`` env steps, or over
    ``exploration_fraction * total_env_steps`` when ``exploration_steps`` is not given, then stays
    at ``end_e``. Because it is a function of the (checkpointed) env-step counter, a resumed run
    continues the schedule exactly. Logs ``rollout/epsilon``.

    Args:
        start_e: initial exploration rate.
        end_e: final exploration rate.
        exploration_fraction: fraction of ``total_env_steps`` over which epsilon decays.
        total_env_steps: training length in env steps (used with ``exploration_fraction``).
        exploration_steps: env steps over which epsilon decays; overrides the fraction.
        schedule: ``"linear"`` or ``"exponential"`` (geometric; needs ``end_e > 0``).
    """

    def __init__(
        self,
        start_e: float = 1.0,
        end_e: float = 0.05,
        exploration_fraction: float = 0.1,
        total_env_steps: int | None = None,
        exploration_steps: int | None = None,
        schedule: str = "linear",
    ) -> None:
        check_unit_interval("start_e", start_e)
        check_unit_interval("end_e", end_e)
        check_unit_interval("exploration_fraction", exploration_fraction)
        check_choice("schedule", schedule, SCHEDULES)
        if schedule == "exponential" and end_e <= 0:
            raise ConfigurationError(f"end_e={end_e!r} is invalid for schedule='exponential': it must be > 0.")
        if exploration_steps is None:
            if total_env_steps is None:
                raise ConfigurationError("EpsilonDecay needs exploration_steps, or total_env_steps with a fraction.")
            check_positive("total_env_steps", total_env_steps)
            exploration_steps = int(exploration_fraction * total_env_steps)
        self.start_e = start_e
        self.end_e = end_e
        self.exploration_steps = exploration_steps
        self.schedule = schedule

    def epsilon(self, env_steps: int) -> float:
        return SCHEDULES[self.schedule](self.start_e, self.end_e, self.exploration_steps, env_steps)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.epsilon = self.epsilon(pl_module.env_steps)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        pl_module.epsilon = self.epsilon(pl_module.env_steps)
        if trainer._logger_connector.should_update_logs:
            pl_module.log("rollout/epsilon", pl_module.epsilon)
