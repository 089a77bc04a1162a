"""``python -m lit_rl fit|validate|test --config configs/NAME.yaml``."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.cli import LightningCLI

TRAINER_DEFAULTS = {
    "max_epochs": -1,  # training length is the model's total_env_steps
    "num_sanity_val_steps": 0,
}


def main(args: list[str] | None = None, run: bool = True) -> LightningCLI:
    """Run the command line; the config's ``model.class_path`` picks the algorithm (e.g. lit_rl.DQN).

    With ``run=False`` it only parses and instantiates (no subcommand is given then).
    """
    return LightningCLI(
        L.LightningModule,
        subclass_mode_model=True,
        trainer_defaults=TRAINER_DEFAULTS,
        save_config_kwargs={"overwrite": True},
        args=args,
        run=run,
    )
