"""Saving the replay buffer next to each checkpoint, so a resumed DQN run keeps its experience."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.utilities import rank_zero_warn

KEY = "lit_rl_replay_snapshot"
PATTERN = re.compile(r"replay-step=(\d+)-rank=(\d+)\.npz")


class ReplaySnapshot(L.Callback):
    """Write ``replay-step=N-rank=R.npz`` beside each checkpoint and load it on resume.

    The snapshot is written (to a temporary name, then renamed into place) before Lightning writes
    the checkpoint that names it, so a crash at any moment leaves either the new pair or the
    previous one intact. The two newest snapshots of each rank are kept: the newest belongs to the
    checkpoint being written, the one before to the checkpoint it replaces. Plain ``.npz`` arrays
    loaded with ``allow_pickle=False``: loading a snapshot runs no code. A checkpoint whose snapshot
    is missing or does not match resumes with an empty buffer, which the collector refills.
    """

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if trainer.checkpoint_callback is None or pl_module.replay_buffer is None:
            return
        folder = Path(trainer.checkpoint_callback.dirpath)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"replay-step={trainer.global_step}-rank={trainer.global_rank}.npz"
        temporary = folder / f".{name}.tmp"
        try:
            with open(temporary, "wb") as file:
                np.savez(file, global_step=np.int64(trainer.global_step), **pl_module.replay_buffer.state_dict())
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, folder / name)
        finally:
            temporary.unlink(missing_ok=True)
        checkpoint[KEY] = {"global_step": trainer.global_step}
        self._remove_old_snapshots(folder, trainer.global_rank)

    @staticmethod
    def _remove_old_snapshots(folder: Path, rank: int) -> None:
        mine = []
        for path in folder.glob(f"replay-step=*-rank={rank}.npz"):
            match = PATTERN.fullmatch(path.name)
            if match:
                mine.append((int(match.group(1)), path))
        for _, path in sorted(mine)[:-2]:
            path.unlink(missing_ok=True)

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        record = checkpoint.get(KEY)
        if record is None or trainer.ckpt_path is None or pl_module.replay_buffer is None:
            return
        # Rank 0 wrote the checkpoint; every rank saved its own buffer at the same step.
        path = Path(trainer.ckpt_path).parent / f"replay-step={record['global_step']}-rank={trainer.global_rank}.npz"
        try:
            with np.load(path, allow_pickle=False) as snapshot:
                if int(snapshot["global_step"]) != record["global_step"]:
                    raise ValueError(f"it holds step {int(snapshot['global_step'])}, not {record['global_step']}")
                pl_module.replay_buffer.load_state_dict({k: snapshot[k] for k in snapshot.files if k != "global_step"})
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            rank_zero_warn(f"Replay snapshot {path} could not be loaded ({error}); the buffer will be refilled.")

    def state_dict(self) -> dict[str, Any]:
        return {}
