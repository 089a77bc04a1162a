import pytest
import torch
from test_ppo import cli_fit


def test_a2c_cartpole_config_fits_one_update_per_rollout(tmp_path):
    cli = cli_fit("a2c_cartpole.yaml", tmp_path, "--model.total_env_steps", "400")
    assert cli.model.env_steps == 400 and cli.trainer.global_step == 10
    metrics = cli.trainer.callback_metrics
    for name in ("policy_loss", "value_loss", "entropy", "explained_variance"):
        assert torch.isfinite(metrics[f"train/{name}"]), name
    assert 1 <= metrics["eval/episodic_return"] <= 500
    assert isinstance(cli.trainer.optimizers[0], torch.optim.RMSprop)


@pytest.mark.slow
def test_a2c_cartpole_config_reaches_475(tmp_path):
    cli = cli_fit("a2c_cartpole.yaml", tmp_path, "--model.eval_episodes", "20", "--trainer.log_every_n_steps", "100")
    assert cli.trainer.callback_metrics["eval/episodic_return"] >= 475
