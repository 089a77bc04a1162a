"""Run by tests/test_continuous_off_policy.py: SAC or TD3 on Pendulum with two CPU processes (gloo)."""

import sys
from pathlib import Path

import lightning as L
import numpy as np
import torch

import lit_rl


class SaveRankState(L.Callback):
    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir

    def on_train_end(self, trainer, pl_module):
        arrays = {k: v.detach().numpy() for k, v in pl_module.state_dict().items()}
        arrays["replay_obs"] = pl_module.replay_buffer.obs[: len(pl_module.replay_buffer)]
        arrays["env_steps"] = np.array(pl_module.env_steps)
        arrays["gradient_updates"] = np.array(pl_module.gradient_updates)
        np.savez(self.out_dir / f"rank{trainer.global_rank}.npz", **arrays)


if __name__ == "__main__":
    torch.set_num_threads(1)
    algorithm, out_dir = getattr(lit_rl, sys.argv[1]), Path(sys.argv[2])
    L.seed_everything(3)
    agent = algorithm(
        "Pendulum-v1", total_env_steps=400, learning_starts=200, batch_size=32, hidden_sizes=[16],
        policy_frequency=2, eval_episodes=2, eval_interval=10**6,
    )
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=-1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[SaveRankState(out_dir)],
    )
    trainer.fit(agent)
