from functools import partial

import lightning as L
import pytest
import torch
from conftest import ROOT, TINY, fit

import lit_rl
from lit_rl.checks import ConfigurationError
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
    with pytest.raises(ConfigurationError, match=message) as error:
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
    """Counts Lightning batches, backward passes and optimizer steps."""

    batches = backwards = updates = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.batches += 1

    def on_after_backward(self, trainer, pl_module):
        self.backwards += 1

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.updates += 1


def test_target_kl_stops_a_rollouts_updates_after_the_first_epoch_that_ends_over_it():
    L.seed_everything(0)
    module = lit_rl.PPO(
        num_envs=2, num_steps=16, total_env_steps=128, target_kl=1e-6, learning_rate=0.05, anneal_lr=False, **TINY
    )
    counter = CountUpdates()
    trainer = fit(module, callbacks=[counter])
    assert "eval/episodic_return" in trainer.callback_metrics  # a stopped rollout still ends with its evaluation
    # The first epoch's 4 minibatch updates all apply (the first has ratio 1, KL 0; the later ones KL > 1e-6);
    # the KL of its last minibatch stops the rollout: the other 3 epochs are neither computed nor applied.
    rollouts = 128 // 32
    assert counter.batches == rollouts  # one Lightning batch per rollout
    assert counter.backwards == counter.updates == trainer.global_step == 4 * rollouts


class ScriptedKLPPO(lit_rl.PPO):
    """Reports the approximate KL of its n-th update as ``kls[n]``."""

    def compute_loss(self, batch):
        loss, metrics = super().compute_loss(batch)
        metrics["approx_kl"] = torch.tensor(self.kls[self.global_step])
        return loss, metrics


def test_target_kl_is_checked_after_each_epoch_on_its_last_minibatch_as_cleanrl_does():
    module = ScriptedKLPPO(
        num_envs=2, num_steps=16, total_env_steps=32, update_epochs=4, num_minibatches=4, target_kl=0.01, **TINY
    )
    # Epoch 1 goes over target_kl in its 2nd minibatch but ends under it: training goes on. Epoch 2 ends
    # over it: epochs 3 and 4 are skipped.
    module.kls = [0.0, 0.5, 0.0, 0.005] + [0.0, 0.0, 0.0, 0.02] + [0.0] * 8
    trainer = fit(module)
    assert trainer.global_step == 8


def test_gradient_clip_val_is_refused_before_training_naming_max_grad_norm():
    module = lit_rl.PPO(num_envs=2, num_steps=8, total_env_steps=64, **TINY)
    message = r"--trainer.gradient_clip_val=0.5 is not used by PPO.* --model.max_grad_norm=0.5 "
    with pytest.raises(ConfigurationError, match=message):
        fit(module, gradient_clip_val=0.5)
    assert module.rollout_buffer is None and module.env_steps == 0  # no env was stepped


def test_max_grad_norm_clips_the_global_gradient_norm_of_every_update():
    class RecordingPPO(lit_rl.PPO):
        def on_before_optimizer_step(self, optimizer):
            unclipped = torch.nn.utils.get_total_norm([p.grad for p in self.parameters()])
            super().on_before_optimizer_step(optimizer)
            clipped = torch.nn.utils.get_total_norm([p.grad for p in self.parameters()])
            self.norms.append((unclipped.item(), clipped.item()))

    L.seed_everything(0)
    module = RecordingPPO(
        num_envs=2, num_steps=8, total_env_steps=32, max_grad_norm=0.01, update_epochs=2, num_minibatches=2,
        **TINY,
    )
    module.norms = []
    fit(module)
    assert len(module.norms) == 2 * 2 * 2  # rollouts x epochs x minibatches
    for unclipped, clipped in module.norms:
        assert unclipped > 0.01 and clipped == pytest.approx(0.01, rel=1e-4)


def test_logged_training_metrics_are_means_over_the_rollouts_updates():
    class RecordingPPO(lit_rl.PPO):
        def compute_loss(self, batch):
            loss, metrics = super().compute_loss(batch)
            self.recorded.append((loss.detach(), metrics))
            return loss, metrics

    L.seed_everything(0)
    module = RecordingPPO(num_envs=2, num_steps=8, total_env_steps=16, update_epochs=3, num_minibatches=2, **TINY)
    module.recorded = []
    trainer = fit(module, log_every_n_steps=1)
    metrics = trainer.callback_metrics
    assert len(module.recorded) == 6
    torch.testing.assert_close(metrics["train/loss"], torch.stack([loss for loss, _ in module.recorded]).mean())
    for name in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"):
        expected = torch.stack([m[name].detach() for _, m in module.recorded]).mean()
        torch.testing.assert_close(metrics[f"train/{name}"], expected)
    assert metrics["train/learning_rate"] == pytest.approx(2.5e-4 * (1 - 0 / 16))


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
    """The loss turns NaN at update ``nan_from`` (counted from 0)."""

    def compute_loss(self, batch):
        loss, metrics = super().compute_loss(batch)
        self.updates = getattr(self, "updates", 0) + 1
        return (loss * float("nan") if self.updates > self.nan_from else loss), metrics


@pytest.mark.parametrize("nan_from", [0, 6])
def test_a_non_finite_loss_stops_training_naming_the_step_before_any_checkpoint(nan_from, tmp_path):
    module = NaNLossPPO(num_envs=2, num_steps=8, total_env_steps=64, **TINY)  # 4 x 4 updates per rollout
    module.nan_from = nan_from
    checkpoints = L.pytorch.callbacks.ModelCheckpoint(tmp_path, every_n_train_steps=1, save_top_k=-1)
    with pytest.raises(FloatingPointError, match=f"at gradient step {nan_from} "):
        L.Trainer(max_epochs=-1, logger=False, enable_progress_bar=False, callbacks=[checkpoints]).fit(module)
    assert not list(tmp_path.iterdir())  # the first rollout's 16 updates never reached a checkpoint


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
        "ppo_pong.yaml", tmp_path, "--model.total_env_steps", "2048", "--model.eval_episodes", "1",
        "--model.update_epochs", "1",
    )
    buffer = cli.model.rollout_buffer
    assert buffer.obs.shape == (128, 16, 4, 84, 84) and buffer.obs.dtype == torch.uint8
    assert cli.trainer.global_step == 8  # one epoch of 8 minibatches
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
    L.seed_everything(0, verbose=False)
    agent = lit_rl.PPO(
        "CartPole-v1", num_envs=2, num_steps=32, total_env_steps=256, eval_episodes=1, eval_interval=256,
        optimizer=partial(torch.optim.Adam, fused=True),  # as the configs use it
    )
    trainer = L.Trainer(
        max_epochs=-1, precision="bf16-mixed", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
    )
    trainer.fit(agent)
    assert torch.isfinite(trainer.callback_metrics["train/policy_loss"])
    assert trainer.optimizers[0].defaults["fused"] and trainer.global_step == 4 * 4 * 4
    with torch.autocast("cpu", dtype=torch.bfloat16):
        dist, values = agent.policy(torch.zeros(3, 4))
        assert dist.log_prob(torch.tensor([0, 1, 0])).dtype == torch.float32
        assert dist.entropy().dtype == torch.float32 and values.dtype == torch.float32
