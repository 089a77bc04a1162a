"""``python -m lit_rl fit|validate|test --config configs/NAME.yaml``."""

from __future__ import annotations

import os
import pickle
import sys
import zipfile
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.utilities import rank_zero_info

from lit_rl.checks import ConfigurationError
from lit_rl.cpu import cpu_precision

TRAINER_DEFAULTS = {
    "max_epochs": -1,  # training length is the model's total_env_steps
    "num_sanity_val_steps": 0,
}
LIGHTNING_CKPT_ALIASES = ("last", "best", "hpc", "registry")
TRACEBACK_VARIABLE = "LIT_RL_TRACEBACK"  # set (not 0) to print a ConfigurationError's traceback


class LitRLCLI(LightningCLI):
    """LightningCLI that checks ``--ckpt_path`` before it creates a run folder, an env or a logger.

    It adds one top-level option, ``auto_cpu_precision`` (false unless a config sets it): on a CPU
    run whose ``trainer.precision`` is not set, use ``lit_rl.cpu_precision()`` (``bf16-mixed`` where
    the CPU has native bf16, ``32-true`` elsewhere) and say so.
    """

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument(
            "--auto_cpu_precision",
            type=bool,
            default=False,
            help="On a CPU run with no trainer.precision, use bf16-mixed if the CPU has native bf16 "
            "(AVX512-BF16 or AMX), else 32-true.",
        )

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        trainer = config["trainer"]
        if config.get("auto_cpu_precision") and trainer.get("precision") is None and runs_on_cpu(trainer):
            trainer["precision"] = cpu_precision()
            rank_zero_info(f"lit_rl: trainer.precision={trainer['precision']} chosen for this CPU (auto_cpu_precision)")

    def _parse_ckpt_path(self) -> None:
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path == "last":
            # Lightning looks for "last" in the new run's own (empty) version folder; resume the newest run.
            root = self.config[subcommand]["trainer"].get("default_root_dir") or "."
            ckpt_path = self.config[subcommand]["ckpt_path"] = str(newest_last_checkpoint(Path(root)))
        if ckpt_path and ckpt_path not in LIGHTNING_CKPT_ALIASES:
            check_checkpoint(ckpt_path, self.config[subcommand]["model"])
        super()._parse_ckpt_path()


def runs_on_cpu(trainer_config) -> bool:
    """Whether the Trainer's ``accelerator`` setting resolves to the CPU."""
    accelerator = trainer_config.get("accelerator") or "auto"
    if accelerator == "auto":
        return not (torch.cuda.is_available() or torch.backends.mps.is_available())
    return accelerator == "cpu"


def newest_last_checkpoint(root: Path) -> Path:
    """The most recently written ``last*.ckpt`` of the runs under ``root``."""
    candidates = list(root.glob("**/checkpoints/last*.ckpt"))
    if not candidates:
        raise ConfigurationError(
            f"--ckpt_path='last' found no checkpoints/last*.ckpt under {str(root)!r}; give a checkpoint's path."
        )
    return max(candidates, key=lambda path: path.stat().st_mtime)


def check_checkpoint(ckpt_path: str, model_config) -> None:
    """Raise a one-line ``ValueError`` if ``ckpt_path`` is not a lit_rl checkpoint of this algorithm and env."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise ConfigurationError(f"--ckpt_path={ckpt_path!r} does not exist; give the path of a .ckpt file or 'last'.")
    try:
        checkpoint = torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, OSError):
        raise ConfigurationError(
            f"--ckpt_path={ckpt_path!r} is not a readable checkpoint: the file is damaged or not a PyTorch checkpoint."
        ) from None
    record = checkpoint.get("lit_rl") if isinstance(checkpoint, dict) else None
    if record is None:
        raise ConfigurationError(f"--ckpt_path={ckpt_path!r} is not a lit_rl checkpoint: it has no 'lit_rl' record.")
    algorithm = str(model_config["class_path"]).rsplit(".", 1)[-1]
    if record["algorithm"] != algorithm:
        raise ConfigurationError(
            f"--ckpt_path={ckpt_path!r} holds a {record['algorithm']} checkpoint, but the config trains {algorithm}."
        )
    env_id = model_config["init_args"]["env_id"]
    if record["env_id"] != env_id:
        raise ConfigurationError(
            f"--ckpt_path={ckpt_path!r} was trained on env_id={record['env_id']!r}, but the config has "
            f"env_id={env_id!r}."
        )


def main(args: list[str] | None = None, run: bool = True) -> LightningCLI:
    """Run the command line; the config's ``model.class_path`` picks the algorithm (e.g. lit_rl.DQN).

    With ``run=False`` it only parses and instantiates (no subcommand is given then). A bad value that
    lit_rl finds (a ``ConfigurationError``, while the classes are built or in ``setup``) ends the command
    with its one-line message and exit status 2, as jsonargparse ends on a parse error; set
    ``LIT_RL_TRACEBACK=1`` to see its traceback. Every other exception keeps its traceback.
    """
    try:
        return LitRLCLI(
            L.LightningModule,
            subclass_mode_model=True,
            trainer_defaults=TRAINER_DEFAULTS,
            save_config_kwargs={"overwrite": True},
            args=args,
            run=run,
        )
    except ValueError as error:
        bad_value = configuration_error(error)
        if bad_value is None or os.environ.get(TRACEBACK_VARIABLE, "") not in ("", "0"):
            raise
        sys.stderr.write(f"error: {bad_value}\n")
        raise SystemExit(2) from None


def configuration_error(error: BaseException | None) -> ConfigurationError | None:
    """The ``ConfigurationError`` behind ``error``: itself, or the one jsonargparse wrapped while building classes."""
    while isinstance(error, ValueError):
        if isinstance(error, ConfigurationError):
            return error
        error = error.__cause__  # jsonargparse raises its ValueError from the one __init__ raised
    return None
