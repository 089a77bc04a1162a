import logging
import os
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import counter_env  # noqa: E402,F401  (registers LitRLTests/Counter-v0)

ROOT = Path(__file__).resolve().parents[1]
# Two cores are shared by the env, the network and pytest: one torch thread and one emulator thread are
# fastest here. lit_rl's CpuThreads (a default callback of every module) reads this.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _quiet_and_single_threaded():
    # Two cores are shared by the env, the network and pytest: one torch thread is fastest here.
    torch.set_num_threads(1)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    yield


# A small actor-critic that never evaluates during training (the tests evaluate when they need to).
TINY = dict(hidden_sizes=[8], eval_episodes=2, eval_interval=10**9)


def fit(module, **trainer_kwargs):
    """Fit with no logger, checkpoints, progress bar, model summary or sanity check."""
    trainer = L.Trainer(
        max_epochs=-1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, **trainer_kwargs,
    )
    trainer.fit(module)
    return trainer
