"""Same seed, same config, same machine: the same run. And mixed precision trains."""

import lightning as L
import torch

import lit_rl

SETTINGS = dict(
    total_env_steps=5_000, learning_starts=500, batch_size=32, hidden_sizes=[32, 32],
    target_update_interval=100, exploration_fraction=0.5, eval_episodes=2, eval_interval=100_000,
)


class Recorder(lit_rl.DQN):
    """Keeps every loss and the returns of every finished training episode."""

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.losses = getattr(self, "losses", []) + [loss.item()]
        return loss


def run(seed: int, precision: str = "32-true") -> Recorder:
    L.seed_everything(seed, verbose=False)
    module = Recorder("CartPole-v1", num_envs=2, **SETTINGS)
    trainer = L.Trainer(
        max_epochs=-1, precision=precision, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(module)
    collector = next(c for c in trainer.callbacks if isinstance(c, lit_rl.ReplayCollector))
    module.episodes = collector.statistics.episodes
    return module


def test_same_seed_gives_identical_losses_and_replay_for_5000_env_steps():
    first, second = run(seed=3), run(seed=3)
    assert first.env_steps == second.env_steps >= 5_000
    assert first.losses == second.losses
    assert first.episodes == second.episodes
    size = len(first.replay_buffer)
    assert size == len(second.replay_buffer)
    for field in ("obs", "actions", "rewards", "terminated", "truncated"):
        assert (getattr(first.replay_buffer, field)[:size] == getattr(second.replay_buffer, field)[:size]).all()
    different = run(seed=4)
    assert different.losses != first.losses


def test_bf16_mixed_precision_trains_with_float32_targets():
    module = run(seed=0, precision="bf16-mixed")
    assert all(torch.isfinite(torch.tensor(module.losses)))
    assert all(p.dtype == torch.float32 for p in module.q_network.parameters())
