import lightning as L
import pytest
import torch
from test_ppo import cli_fit, fit

import lit_rl


def test_reinforce_cartpole_config_fits(tmp_path):
    cli = cli_fit("reinforce_cartpole.yaml", tmp_path, "--model.total_env_steps", "4000")
    assert cli.model.env_steps == 4000 and cli.trainer.global_step == 2
    metrics = cli.trainer.callback_metrics
    for name in ("policy_loss", "value_loss", "entropy"):
        assert torch.isfinite(metrics[f"train/{name}"]), name
    assert 1 <= metrics["eval/episodic_return"] <= 500


def test_reinforce_without_baseline_learns_from_monte_carlo_returns_of_finished_episodes_only():
    """CounterEnv: reward t + 1 at step t; episode k lasts 3 + k % 4 steps."""
    L.seed_everything(0)
    module = lit_rl.Reinforce(
        "LitRLTests/Counter-v0", num_envs=2, num_steps=12, total_env_steps=24, baseline=False, gamma=1.0,
        hidden_sizes=[8], eval_episodes=1, eval_interval=10**9,
    )
    fit(module, max_steps=0)
    buffer = module.rollout_buffer
    episode, t = buffer.obs[..., 0].long(), buffer.obs[..., 1].long()
    length = 3 + episode % 4
    done = buffer.terminated | buffer.truncated
    for env in range(2):
        last_end = done[:, env].nonzero().max().item()
        # Kept: real transitions up to the env's last episode end; its unfinished episode is left out.
        assert not buffer.valid[last_end + 1 :, env].any()
        for step in range(last_end + 1):
            if buffer.valid[step, env]:
                # Return to go from t: (t + 1) + ... + length, and no baseline is subtracted.
                expected = sum(range(t[step, env] + 1, length[step, env] + 1))
                assert buffer.advantages[step, env].item() == expected
    assert buffer.valid.any() and (buffer.values == 0).all()


@pytest.mark.slow
def test_reinforce_cartpole_config_reaches_400(tmp_path):
    cli = cli_fit("reinforce_cartpole.yaml", tmp_path, "--model.eval_episodes", "20")
    assert cli.trainer.callback_metrics["eval/episodic_return"] >= 400
