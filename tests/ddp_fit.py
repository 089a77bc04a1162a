"""Run by tests/test_ddp.py: DQN on CartPole with two CPU processes (gloo); each rank saves its state."""

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
        arrays = {f"target.{k}": v.numpy() for k, v in pl_module.target_network.state_dict().items()}
        arrays.update({f"online.{k}": v.detach().numpy() for k, v in pl_module.q_network.state_dict().items()})
        size = len(pl_module.replay_buffer)
        arrays["replay_obs"] = pl_module.replay_buffer.obs[:size]
        arrays["env_steps"] = np.array(pl_module.env_steps)
        arrays["global_step"] = np.array(trainer.global_step)
        arrays["eval_return"] = np.array(float(trainer.callback_metrics["eval/episodic_return"]))
        np.savez(self.out_dir / f"rank{trainer.global_rank}.npz", **arrays)


if __name__ == "__main__":
    torch.set_num_threads(1)
    out_dir = Path(sys.argv[1])
    L.seed_everything(5)
    agent = lit_rl.DQN(
        "CartPole-v1", num_envs=2, total_env_steps=2_000, learning_starts=200, batch_size=32,
        hidden_sizes=[32], target_update_interval=7, tau=0.5, eval_episodes=3, eval_interval=1_000,
    )
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=-1, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[SaveRankState(out_dir)],
    )
    trainer.fit(agent)
