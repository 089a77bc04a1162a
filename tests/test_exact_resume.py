"""A run resumed from a checkpoint logs exactly what the uninterrupted run logged, step for step."""

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger

import lit_rl

CARTPOLE = dict(env_id="CartPole-v1", num_envs=2, hidden_sizes=[16], eval_episodes=2)
DQN_SETTINGS = dict(
    CARTPOLE, total_env_steps=1_600, learning_starts=200, batch_size=16, buffer_size=5_000,
    target_update_interval=50, exploration_fraction=0.5, eval_interval=400, eval_epsilon=0.1,
    save_replay_buffer=True,
)
PPO_SETTINGS = dict(CARTPOLE, num_steps=32, num_minibatches=2, update_epochs=2, total_env_steps=768, eval_interval=256)
PENDULUM_SETTINGS = dict(
    env_id="Pendulum-v1", num_envs=2, hidden_sizes=[16], eval_episodes=2, total_env_steps=1_200, learning_starts=200,
    batch_size=16, buffer_size=5_000, eval_interval=400, save_replay_buffer=True,
)
LEARNING = ("rollout/", "train/", "eval/")  # not perf/ (timings) or epoch


class RecordingLogger(Logger):
    """Keeps every logged learning metric by logging step."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[int, dict[str, float]] = {}

    name, version = "recording", 0

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        kept = {k: float(v) for k, v in metrics.items() if k.startswith(LEARNING)}
        self.records.setdefault(step, {}).update(kept)

    def log_hyperparams(self, *args, **kwargs) -> None:
        pass


def fit(module_class, settings, checkpoint: ModelCheckpoint | None, ckpt_path=None):
    L.seed_everything(7, verbose=False)
    module = module_class(**settings)
    logger = RecordingLogger()
    trainer = L.Trainer(
        max_epochs=-1, logger=logger, log_every_n_steps=1, callbacks=[checkpoint] if checkpoint else [],
        enable_checkpointing=checkpoint is not None, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, ckpt_path=ckpt_path)
    return module, logger.records


def assert_resumed_records_match(uninterrupted, resumed, last_logged):
    """The resumed run logs every step after ``last_logged`` exactly as the uninterrupted run did, and
    at ``last_logged`` itself (an epoch-end checkpoint's step, shared with the evaluation before it)
    nothing the uninterrupted run did not log."""
    assert min(resumed) >= last_logged
    for step, metrics in resumed.items():
        assert metrics == {name: uninterrupted[step].get(name) for name in metrics}, f"logging step {step} differs"
    after = {step: metrics for step, metrics in uninterrupted.items() if step > last_logged and metrics}
    assert {step: resumed.get(step) for step in after} == after
    assert any("rollout/episodic_return" in metrics for metrics in after.values())  # episodes finished after it
    assert any("eval/episodic_return" in metrics for metrics in after.values())


@pytest.mark.parametrize(
    "module_class, settings, checkpoint_every",
    [
        (lit_rl.DQN, DQN_SETTINGS, dict(every_n_train_steps=333)),  # mid-epoch, one batch drawn ahead
        (lit_rl.PPO, PPO_SETTINGS, dict(every_n_train_steps=20)),  # after the 5th rollout's updates
        (lit_rl.PPO, PPO_SETTINGS, dict(every_n_epochs=5, save_on_train_epoch_end=True)),  # at epoch end
        (lit_rl.SAC, PENDULUM_SETTINGS, dict(every_n_train_steps=666)),  # 3 optimizer steps per gradient step
        # An odd round, without an actor step: after an even one, the uninterrupted run's logger repeats the last
        # train/actor_loss in the next round, which logs none; the resumed run has none to repeat. Training matches.
        (lit_rl.TD3, PENDULUM_SETTINGS, dict(every_n_train_steps=334)),
    ],
    ids=["dqn-mid-epoch", "ppo-after-batch", "ppo-epoch-end", "sac-mid-epoch", "td3-mid-epoch"],
)
def test_resumed_run_logs_exactly_what_the_uninterrupted_run_logs(tmp_path, module_class, settings, checkpoint_every):
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, filename="{step}", **checkpoint_every)
    uninterrupted_module, uninterrupted = fit(module_class, settings, checkpoint)
    saved = sorted(tmp_path.glob("step=*.ckpt"), key=lambda p: int(p.stem.split("=")[1]))[0]

    resumed_module, resumed = fit(module_class, settings, None, ckpt_path=saved)

    assert resumed_module.env_steps == uninterrupted_module.env_steps
    # Records are keyed by Lightning's logging step (one per batch), which the resumed run continues.
    loops = torch.load(saved, weights_only=True)["loops"]["fit_loop"]
    assert_resumed_records_match(uninterrupted, resumed, loops["epoch_loop.state_dict"]["_batches_that_stepped"])
