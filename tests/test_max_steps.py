"""Trainer(max_steps=N) stops after exactly N optimizer steps, though one batch takes several."""

import lightning as L
import pytest

import lit_rl

CARTPOLE = dict(env_id="CartPole-v1", hidden_sizes=[8], eval_episodes=1, eval_interval=10**9)


@pytest.mark.parametrize(
    "module",
    [
        lambda: lit_rl.DQN(**CARTPOLE, gradient_steps=4, learning_starts=64, batch_size=16),  # 4 steps a round
        lambda: lit_rl.PPO(**CARTPOLE, num_envs=2, num_steps=16, update_epochs=2, num_minibatches=2),  # 4 a rollout
    ],
    ids=["dqn", "ppo"],
)
def test_max_steps_is_exact_when_a_batch_takes_several_optimizer_steps(module):
    trainer = L.Trainer(
        max_steps=10, max_epochs=-1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0,
    )
    trainer.fit(module())
    assert trainer.global_step == 10  # not 12: the third batch takes only the 2 steps left
