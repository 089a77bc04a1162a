import math

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

import lit_rl
from lit_rl.algorithms.common import clip_grad_norm

FAST = dict(eval_episodes=2, eval_interval=100_000, hidden_sizes=[16], batch_size=8, learning_starts=8)


def fit(module, tmp_path=None, max_steps=-1, callbacks=None):
    trainer = L.Trainer(
        max_steps=max_steps,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=callbacks is not None,
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        log_every_n_steps=10,
    )
    trainer.fit(module)
    return trainer


class RecordingDQN(lit_rl.DQN):
    """Records, per training batch, the env-step counter and the gradient steps taken before it."""

    def training_step(self, batch, batch_idx):
        self.seen = getattr(self, "seen", []) + [(self.env_steps, self.global_step, len(batch.obs))]
        return super().training_step(batch, batch_idx)


def test_collector_never_stores_a_transition_that_crosses_an_episode_boundary():
    L.seed_everything(0)
    module = lit_rl.DQN("LitRLTests/Counter-v0", num_envs=3, total_env_steps=300, **FAST)
    fit(module)
    buffer = module.replay_buffer
    obs, next_obs = buffer.obs[: len(buffer)], buffer.next_obs[: len(buffer)]
    # Same episode, next time step: never a final observation paired with a reset observation.
    assert np.array_equal(next_obs[:, 0], obs[:, 0])
    assert np.array_equal(next_obs[:, 1], obs[:, 1] + 1)
    assert np.array_equal(buffer.rewards[: len(buffer)], next_obs[:, 1])
    episode, t = next_obs[:, 0].astype(int), next_obs[:, 1].astype(int)
    ends = t == 3 + episode % 4
    truncated_episode = episode % 3 == 2
    assert np.array_equal(buffer.terminated[: len(buffer)], ends & ~truncated_episode)
    assert np.array_equal(buffer.truncated[: len(buffer)], ends & truncated_episode)
    assert buffer.terminated.any() and buffer.truncated.any()
    # The three sub-environments were seeded apart (seed + i), so their episode ids differ.
    assert len(set((episode // 1000).tolist())) == 3


def test_warmup_then_train_frequency_env_steps_per_gradient_round():
    L.seed_everything(0)
    module = RecordingDQN(
        "LitRLTests/Counter-v0",
        num_envs=2,
        total_env_steps=100,
        train_frequency=3,
        gradient_steps=2,
        **{**FAST, "learning_starts": 20},
    )
    fit(module)
    env_steps, gradient_steps, rows = zip(*module.seen, strict=True)
    assert env_steps[0] == 20  # the whole warm-up happens before the first gradient step
    # One batch per round: its 2 minibatches give 2 gradient steps, then 3 vector steps x 2 envs.
    assert env_steps[:4] == (20, 26, 32, 38)
    assert gradient_steps[:4] == (0, 2, 4, 6)
    assert set(rows) == {2 * FAST["batch_size"]}
    assert module.env_steps >= 100 and env_steps[-1] < 100


def test_short_fit_then_load_from_checkpoint_gives_a_working_agent(tmp_path):
    L.seed_everything(0)
    module = lit_rl.DQN("CartPole-v1", total_env_steps=400, **FAST)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = fit(module, tmp_path, callbacks=[checkpoint])
    assert "eval/episodic_return" in trainer.callback_metrics
    assert {"train/loss", "train/q_values", "rollout/epsilon", "rollout/env_steps"} <= set(trainer.callback_metrics)
    loaded = lit_rl.DQN.load_from_checkpoint(tmp_path / "last.ckpt")
    assert loaded.env_steps == module.env_steps
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    assert np.array_equal(loaded.act(obs), module.act(obs))
    for name, value in module.target_network.state_dict().items():
        assert torch.equal(loaded.target_network.state_dict()[name], value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(env_id="NoSuchEnv-v0"), "env_id='NoSuchEnv-v0' is not a registered"),
        (dict(batch_size=64, buffer_size=32, learning_starts=64), "batch_size=64 is invalid: it must be <= buffer"),
        (dict(batch_size=64, learning_starts=10), "learning_starts=10 is invalid: it must be >= batch_size=64"),
        (dict(gamma=1.5), r"gamma=1.5 is invalid: it must lie in \[0, 1\]"),
        (dict(gamma=-0.1), r"gamma=-0.1 is invalid"),
        (dict(buffer_size=0), "buffer_size=0 is invalid: it must be > 0"),
        (dict(num_envs=0), "num_envs=0 is invalid: it must be > 0"),
        (dict(loss="l1"), "loss='l1' is invalid: choose one of 'huber', 'mse'"),
        (dict(n_step=0), r"n_step=0 is invalid: it must lie in \[1, 255\]"),
        (dict(gradient_steps=0), "gradient_steps=0 is invalid: it must be > 0"),
        (dict(max_grad_norm=0.0), "max_grad_norm=0.0 is invalid: it must be > 0"),
    ],
)
def test_bad_arguments_stop_before_anything_runs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lit_rl.DQN(**{"env_id": "CartPole-v1", **kwargs})


def test_continuous_actions_are_rejected_before_any_env_step(tmp_path):
    module = lit_rl.DQN("Pendulum-v1")
    with pytest.raises(ValueError, match=r"env_id='Pendulum-v1' has action space Box.*needs a Discrete"):
        fit(module, tmp_path, callbacks=[ModelCheckpoint(dirpath=tmp_path)])
    assert module.env_steps == 0
    assert not list(tmp_path.glob("*.ckpt"))


def test_trainer_gradient_clipping_is_refused_with_a_pointer_to_max_grad_norm(tmp_path):
    module = lit_rl.DQN("CartPole-v1", total_env_steps=100, **FAST)
    trainer = L.Trainer(gradient_clip_val=10.0, logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
    with pytest.raises(ValueError, match=r"gradient_clip_val=10.0 is not used by DQN.*--model.max_grad_norm=10.0"):
        trainer.fit(module)
    assert module.env_steps == 0


def test_max_grad_norm_clips_every_gradient_step():
    L.seed_everything(0)
    norms = []

    class ClipRecordingDQN(lit_rl.DQN):
        def on_before_optimizer_step(self, optimizer):
            super().on_before_optimizer_step(optimizer)
            norms.append(torch.nn.utils.get_total_norm([p.grad for p in self.q_network.parameters()]).item())

    module = ClipRecordingDQN("CartPole-v1", total_env_steps=200, max_grad_norm=1e-3, gradient_steps=2, **FAST)
    trainer = fit(module)
    assert len(norms) == trainer.global_step > 0
    assert max(norms) <= 1e-3 * (1 + 1e-4)


@pytest.mark.parametrize("max_norm", [0.05, 1e6])
def test_clip_grad_norm_matches_torch(max_norm):
    torch.manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    inputs = torch.randn(5, 3)
    for net in nets:
        net(inputs).square().sum().backward()
    nets[0][2].bias.grad = None  # a parameter without a gradient is skipped
    nets[1][2].bias.grad = None
    total = clip_grad_norm(torch.optim.SGD(nets[0].parameters()), max_norm)
    expected = torch.nn.utils.clip_grad_norm_(nets[1].parameters(), max_norm)
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    for ours, theirs in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        assert (ours.grad is None) == (theirs.grad is None)
        if ours.grad is not None:
            torch.testing.assert_close(ours.grad, theirs.grad)
    clipped_norm = torch.nn.utils.get_total_norm([p.grad for p in nets[0].parameters() if p.grad is not None])
    assert clipped_norm.item() == pytest.approx(min(max_norm, expected.item()), rel=1e-4)


class PoisonedDQN(lit_rl.DQN):
    """Feeds NaN rewards from gradient step 30 on."""

    def training_step(self, batch, batch_idx):
        if self.global_step >= 30:
            batch = batch._replace(rewards=torch.full_like(batch.rewards, math.nan))
        return super().training_step(batch, batch_idx)


def test_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    L.seed_everything(0)
    module = PoisonedDQN("CartPole-v1", total_env_steps=10_000, **FAST)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=10, save_top_k=-1)
    with pytest.raises(FloatingPointError, match="train/loss became nan at gradient step 30"):
        fit(module, tmp_path, callbacks=[checkpoint])
    saved = sorted(tmp_path.glob("*.ckpt"))
    assert [p.name for p in saved] == [f"epoch=0-step={s}.ckpt" for s in (10, 20, 30)]
    state = torch.load(saved[-1], weights_only=False)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values())


def test_a_life_loss_terminal_does_not_drop_the_next_transition(monkeypatch):
    import gymnasium as gym

    from lit_rl.callbacks import env_stepping

    class LifeLoss(gym.vector.VectorWrapper):
        """Terminates the TD episode at t == 2 while the episode (the 'game') goes on."""

        def step(self, actions):
            obs, rewards, terminated, truncated, info = self.env.step(actions)
            return obs, rewards, terminated | (obs[:, 1] == 2), truncated, info

    make = env_stepping.make_vector_env
    monkeypatch.setattr(env_stepping, "make_vector_env", lambda *args, **kwargs: LifeLoss(make(*args, **kwargs)))
    L.seed_everything(0)
    module = lit_rl.DQN("LitRLTests/Counter-v0", num_envs=2, total_env_steps=200, **FAST)
    fit(module)
    buffer = module.replay_buffer
    obs, next_obs = buffer.obs[: len(buffer)], buffer.next_obs[: len(buffer)]
    after_life_loss = obs[:, 1] == 2
    assert after_life_loss.any(), "the transition after a lost life was dropped as if the env had reset"
    assert np.array_equal(next_obs[after_life_loss, 1], obs[after_life_loss, 1] + 1)
    assert buffer.terminated[: len(buffer)][next_obs[:, 1] == 2].all()
