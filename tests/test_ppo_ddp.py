"""PPO with two CPU processes (DDP, gloo): own envs, rollouts and action noise per rank, one model, one stopping rule."""

import subprocess
import sys

import numpy as np

SCRIPT = '''
import sys
from functools import partial
import lightning as L
import numpy as np
import torch
import lit_rl

class CountBackward(L.Callback):
    backwards = 0

    def on_after_backward(self, trainer, pl_module):
        self.backwards += 1

    def on_train_start(self, trainer, pl_module):  # the first rollout is collected by now
        self.first_actions = pl_module.rollout_buffer.actions.numpy().copy()

torch.set_num_threads(1)
L.seed_everything(3)
agent = lit_rl.PPO(
    num_envs=2, num_steps=32, total_env_steps=1024, update_epochs=2, num_minibatches=2, target_kl=1e-6,
    learning_rate=0.05, anneal_lr=False, hidden_sizes=[16], eval_episodes=2, eval_interval=512,
    optimizer=partial(torch.optim.Adam, fused=True),
)
counter = CountBackward()
trainer = L.Trainer(
    accelerator="cpu", devices=2, strategy="ddp", max_epochs=-1, logger=False, enable_checkpointing=False,
    enable_progress_bar=False, enable_model_summary=False, callbacks=[counter],
)
trainer.fit(agent)
np.savez(
    f"{sys.argv[1]}/rank{trainer.global_rank}.npz",
    params=torch.cat([p.detach().flatten() for p in agent.parameters()]).numpy(),
    obs=agent.rollout_buffer.obs.numpy(), env_steps=agent.env_steps, global_step=trainer.global_step,
    backwards=counter.backwards, first_actions=counter.first_actions, eval_return=float(trainer.callback_metrics["eval/episodic_return"]),
)
'''


def test_ddp_ranks_keep_one_model_and_stop_their_epochs_together(tmp_path):
    script = tmp_path / "ppo_ddp_fit.py"
    script.write_text(SCRIPT)
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, cwd=tmp_path, timeout=300)
    rank0, rank1 = (np.load(tmp_path / f"rank{r}.npz") for r in (0, 1))
    np.testing.assert_array_equal(rank0["params"], rank1["params"])
    # Env steps are global (2 ranks x 2 envs x 32 steps per rollout); target_kl, averaged over the ranks,
    # stopped the same number of minibatches on both (a rank doing a backward pass alone would hang DDP).
    assert rank0["env_steps"] == rank1["env_steps"] == 1024
    # 8 rollouts: 2 of the 2 x 2 updates each (the second minibatch's KL stops the rollout).
    assert rank0["global_step"] == rank1["global_step"] == rank0["backwards"] == rank1["backwards"] == 8 * 2
    assert not np.array_equal(rank0["obs"], rank1["obs"])  # seeded apart: different experience
    # Each rank samples from its own stream: with a near-uniform first policy, shared noise would
    # pick the same 64 actions on both.
    assert (rank0["first_actions"] != rank1["first_actions"]).mean() > 0.25
    assert rank0["eval_return"] == rank1["eval_return"]
