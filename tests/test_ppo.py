import lightning as L
import pytest
import torch
from conftest import ROOT, TINY, fit

import lit_rl
from lit_rl.cli import main


def cli_fit(config, tmp_path, *overrides):
    return main([
        "fit", "--config", str(ROOT / "configs" / config), "--trainer.default_root_dir", str(tmp_path),
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.log_every_n_steps", "1", "--model.eval_episodes", "2", *overrides,
    ])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_envs=3, num_steps=5, num_minibatches=4), r"num_minibatches=4 is invalid: .* 15 steps"),
        (dict(gae_lambda=1.5), r"gae_lambda=1.5 is invalid: it must lie in \[0, 1\]"),
        (dict(gamma=-0.1), r"gamma=-0.1 is invalid: it must lie in \[0, 1\]"),
        (dict(clip_coef=0.0), r"clip_coef=0.0 is invalid: it must be > 0"),
        (dict(target_kl=-1.0), r"target_kl=-1.0 is invalid"),
        (dict(env_id="NoSuchEnv-v0"), r"env_id='NoSuchEnv-v0' is not a registered"),
        (dict(anneal_lr=True, total_env_steps=None), r"anneal_lr=True needs total_env_steps"),
    ],
)
def test_bad_hyperparameters_fail_in_init_with_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        lit_rl.PPO(**kwargs)
    assert "\n" not in str(error.value)


def test_ppo_cartpole_config_fits_logs_and_checkpoints(tmp_path):
    cli = cli_fit("ppo_cartpole.yaml", tmp_path, "--model.total_env_steps", "768")
    metrics = cli.trainer.callback_metrics
    for name in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "explained_variance"):
        assert torch.isfinite(metrics[f"train/{name}"]), name
    assert cli.model.env_steps == 768 and cli.trainer.global_step == 3 * 20
    assert 1 <= metrics["eval/episodic_return"] <= 500
    assert "rollout/env_steps" in metrics and "perf/env_steps_per_sec" in metrics
    # The last rollout anneals the learning rate to 1 - 512 / 768 of its start.
    assert cli.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.001 / 3)
    (checkpoint,) = tmp_path.rglob("last.ckpt")
    loaded = lit_rl.PPO.load_from_checkpoint(checkpoint)
    assert loaded.env_steps == 768
    obs = torch.randn(5, 4)
    torch.testing.assert_close(loaded.policy(obs)[1], cli.model.policy(obs)[1])


class CountUpdates(L.Callback):
    """Counts the training steps that changed the parameters."""

    updates = batches = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.before = [p.detach().clone() for p in pl_module.parameters()]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        changed = any(not torch.equal(a, p) for a, p in zip(self.before, pl_module.parameters(), strict=True))
        self.updates += changed
        self.batches += 1


def test_target_kl_stops_a_rollouts_updates_after_the_first_minibatch():
    L.seed_everything(0)
    module = lit_rl.PPO(
        num_envs=2, num_steps=16, total_env_steps=128, target_kl=1e-6, learning_rate=0.05, anneal_lr=False, **TINY
    )
    counter = CountUpdates()
    trainer = fit(module, callbacks=[counter])
    assert "eval/episodic_return" in trainer.callback_metrics  # a stopped epoch still ends with its evaluation
    # Minibatch 1 has ratio 1 (KL 0); minibatch 2 sees KL > 1e-9, is still applied, and stops the
    # rollout: of the other 14 minibatches only the one Lightning had already drawn is served, unapplied.
    rollouts = 128 // 32
    assert counter.updates == 2 * rollouts
    assert counter.batches == trainer.global_step == 3 * rollouts  # Lightning counts the skipped steps too


def test_continuous_actions_are_clipped_for_the_env_but_stored_unclipped():
    L.seed_everything(0)
    module = lit_rl.PPO("Pendulum-v1", num_envs=2, num_steps=32, total_env_steps=64, log_std_init=1.0, **TINY)
    fit(module)
    actions = module.rollout_buffer.actions
    assert actions.shape == (32, 2, 1) and actions.dtype == torch.float32
    assert actions.abs().max() > 2.0  # Pendulum's bounds are [-2, 2]
    greedy = module.act_greedy(torch.zeros(3, 3).numpy())
    assert greedy.shape == (3, 1) and abs(greedy).max() <= 2.0


class NaNLossPPO(lit_rl.PPO):
    def compute_loss(self, batch):
        loss, metrics = super().compute_loss(batch)
        return loss * float("nan"), metrics


def test_a_non_finite_loss_stops_training_naming_the_step():
    module = NaNLossPPO(num_envs=2, num_steps=8, total_env_steps=64, **TINY)
    with pytest.raises(FloatingPointError, match="at gradient step 0 "):
        fit(module)


def test_ppo_learns_cartpole(tmp_path):
    # A random policy scores ~22; the config's schedules compressed into 20,480 env steps.
    cli = cli_fit(
        "ppo_cartpole.yaml", tmp_path, "--model.total_env_steps", "20480", "--model.eval_episodes", "10",
        "--trainer.logger", "false", "--trainer.enable_checkpointing", "false", "--trainer.callbacks", "[]",
    )
    assert cli.trainer.callback_metrics["eval/episodic_return"] >= 150


def test_ppo_pendulum_config_fits_a_gaussian_policy(tmp_path):
    cli = cli_fit("ppo_pendulum.yaml", tmp_path, "--model.total_env_steps", "2048", "--model.update_epochs", "1")
    assert cli.model.env_steps == 2048 and cli.trainer.global_step == 32
    assert cli.model.policy.continuous and torch.isfinite(cli.trainer.callback_metrics["train/policy_loss"])
    assert -2000 < cli.trainer.callback_metrics["eval/episodic_return"] <= 0


def test_ppo_pong_config_fits_one_rollout_from_frames(tmp_path):
    cli = cli_fit(
        "ppo_pong.yaml", tmp_path, "--model.total_env_steps", "1024", "--model.eval_episodes", "1",
        "--model.update_epochs", "1",
    )
    buffer = cli.model.rollout_buffer
    assert buffer.obs.shape == (128, 8, 4, 84, 84) and buffer.obs.dtype == torch.uint8
    assert cli.trainer.global_step == 4
    assert -21 <= cli.trainer.callback_metrics["eval/episodic_return"] <= 21


@pytest.mark.slow
@pytest.mark.parametrize(("config", "target"), [("ppo_cartpole.yaml", 475), ("ppo_pendulum.yaml", -300)])
def test_ppo_configs_reach_their_targets(config, target, tmp_path):
    cli = cli_fit(config, tmp_path, "--model.eval_episodes", "20", "--trainer.log_every_n_steps", "100")
    assert cli.trainer.callback_metrics["eval/episodic_return"] >= target


def test_a_run_resumed_from_its_checkpoint_continues_the_env_step_clock(tmp_path):
    # (Through the CLI, --ckpt_path replaces the model's arguments by the checkpoint's, total_env_steps too.)
    first = cli_fit("ppo_cartpole.yaml", tmp_path, "--model.total_env_steps", "768")
    (checkpoint,) = tmp_path.rglob("last.ckpt")
    hparams = {k: v for k, v in first.model.hparams.items() if not k.startswith("_")}
    hparams["total_env_steps"] = 1536
    resumed = lit_rl.PPO(**hparams)
    trainer = L.Trainer(max_epochs=-1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit(resumed, ckpt_path=checkpoint)
    assert first.model.env_steps == 768 and resumed.env_steps == 1536
    assert trainer.global_step == 2 * first.trainer.global_step
    # The learning rate keeps annealing on the env-step clock: the last rollout started at 1280.
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.001 * (1 - 1280 / 1536))


def test_ppo_trains_with_bf16_mixed_precision_and_float32_log_probabilities():
    import lightning as L
    import torch

    import lit_rl

    L.seed_everything(0, verbose=False)
    agent = lit_rl.PPO("CartPole-v1", num_envs=2, num_steps=32, total_env_steps=256, eval_episodes=1, eval_interval=256)
    trainer = L.Trainer(
        max_epochs=-1, precision="bf16-mixed", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(agent)
    assert torch.isfinite(trainer.callback_metrics["train/policy_loss"])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        dist, values = agent.policy(torch.zeros(3, 4))
        assert dist.log_prob(torch.tensor([0, 1, 0])).dtype == torch.float32
        assert dist.entropy().dtype == torch.float32 and values.dtype == torch.float32
