"""The on-policy data path: what the collector stores, and that no update uses a stale rollout."""

import lightning as L
import numpy as np
import pytest
import torch
from conftest import TINY, fit

import lit_rl
from lit_rl.rollout_buffer import RolloutBuffer
from lit_rl.rollout_dataset import RolloutDataset


class RecordingPPO(lit_rl.PPO):
    """Records which rollout every update used, and how many updates preceded each rollout."""

    def finish_rollout(self, next_obs):
        super().finish_rollout(next_obs)
        step = self.trainer.global_step
        self.collected = getattr(self, "collected", []) + [(self.rollout_buffer.rollout_id, step)]

    def training_step(self, batch, batch_idx):
        self.batches = getattr(self, "batches", []) + [(batch.rollout_id, len(batch.obs))]
        return super().training_step(batch, batch_idx)

    def compute_loss(self, batch):
        self.used = getattr(self, "used", []) + [(batch.rollout_id, self.rollout_buffer.rollout_id, len(batch.obs))]
        return super().compute_loss(batch)


def test_every_update_uses_the_latest_rollout_and_every_rollout_follows_all_updates_before_it():
    L.seed_everything(0)
    module = RecordingPPO(
        "CartPole-v1", num_envs=2, num_steps=8, total_env_steps=96, update_epochs=3, num_minibatches=4, **TINY
    )
    fit(module)
    per_rollout = 3 * 4
    rollouts = 96 // 16
    # Every Lightning batch is one whole rollout, each rollout served once, in order...
    assert module.batches == [(r, 16) for r in range(1, rollouts + 1)]
    # ...the minibatch of every update came from the rollout that is current at that update...
    assert all(batch_id == current and size == 4 for batch_id, current, size in module.used)
    # ...every rollout is used for exactly update_epochs * num_minibatches updates, in order...
    assert [batch_id for batch_id, _, _ in module.used] == [
        r for r in range(1, rollouts + 1) for _ in range(per_rollout)
    ]
    # ...and rollout k + 1 was collected by the policy after all k * per_rollout updates.
    assert module.collected == [(k + 1, k * per_rollout) for k in range(rollouts)]
    assert module.env_steps == 96


def test_a_batch_from_an_older_rollout_is_refused():
    L.seed_everything(0)
    module = lit_rl.PPO("CartPole-v1", num_envs=2, num_steps=8, total_env_steps=32, **TINY)
    fit(module)
    stale = module.rollout_buffer.batch()._replace(rollout_id=module.rollout_buffer.rollout_id - 1)
    with pytest.raises(RuntimeError, match="training_step got rollout 1, but rollout 2 is the current one"):
        module.training_step(stale, 0)


def test_the_dataset_serves_each_complete_rollout_once_whole():
    buffer = RolloutBuffer(num_steps=2, num_envs=2, observation_shape=(1,))

    def collect():
        buffer.reset()
        for _ in range(2):
            ones = np.ones(2)
            buffer.add(ones[:, None], ones, torch.zeros(2), torch.zeros(2), ones, ones < 0, ones < 0, ones > 0)
        buffer.compute_returns(torch.zeros(2), 0.99, 0.95)

    dataset = RolloutDataset(buffer)
    with pytest.raises(RuntimeError, match="before a complete rollout"):
        next(iter(dataset))
    collect()
    (batch,) = list(dataset)
    assert batch.rollout_id == 1 and batch.obs.shape == (4, 1) and batch.returns.shape == (4,)
    with pytest.raises(RuntimeError, match="rollout 1 was already served"):
        next(iter(dataset))
    collect()
    assert [b.rollout_id for b in dataset] == [2]
    buffer.reset()  # a new rollout has started but is not complete
    with pytest.raises(RuntimeError, match="before a complete rollout"):
        next(iter(dataset))


def test_frame_rollouts_are_served_in_channels_last_and_minibatches_keep_it():
    buffer = RolloutBuffer(num_steps=3, num_envs=2, observation_shape=(4, 5, 6), observation_dtype=np.uint8)
    frames = np.random.default_rng(0).integers(0, 256, (3, 2, 4, 5, 6), dtype=np.uint8)
    buffer.reset()
    for t in range(3):
        ones = np.ones(2)
        buffer.add(frames[t], ones, torch.zeros(2), torch.zeros(2), ones, ones < 0, ones < 0, ones > 0)
    buffer.compute_returns(torch.zeros(2), 0.99, 0.95)
    batch = buffer.batch()
    assert batch.obs.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(batch.obs, torch.from_numpy(frames).flatten(0, 1))  # the same values, row for row
    minibatch = batch.rows(torch.tensor([4, 0, 2]))
    assert minibatch.obs.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(minibatch.obs, torch.from_numpy(frames).flatten(0, 1)[[4, 0, 2]])


def test_collector_stores_the_final_observation_on_reset_rows_and_bootstraps_truncation_from_it():
    """CounterEnv observations are [episode, t]; let the value of an observation be t."""
    L.seed_everything(0)
    module = lit_rl.A2C("LitRLTests/Counter-v0", num_envs=3, num_steps=30, total_env_steps=90, **TINY)

    def act(obs):
        n = len(obs)
        actions = torch.zeros(n, dtype=torch.int64)
        return actions.numpy(), actions, torch.zeros(n), torch.as_tensor(obs[:, 1])

    module.act = act
    module.hparams.gamma = 1.0
    fit(module, max_steps=0)
    buffer = module.rollout_buffer
    obs, valid = buffer.obs.numpy(), buffer.valid.numpy()
    episode, t = obs[..., 0].astype(int), obs[..., 1].astype(int)
    done = (buffer.terminated | buffer.truncated).numpy()
    assert buffer.terminated.any() and buffer.truncated.any()
    # The row after an episode end is not a transition, and holds that episode's final observation.
    assert np.array_equal(valid[1:], ~done[:-1])
    assert np.array_equal(t[1:][done[:-1]], 3 + episode[1:][done[:-1]] % 4)
    # A truncated step bootstraps from the final observation: A = r + V(final) - V(s) = (t + 1) + (t + 1) - t.
    rows, envs = np.nonzero(buffer.truncated.numpy()[:-1])
    advantages = buffer.advantages.numpy()
    assert np.allclose(advantages[rows, envs], t[rows, envs] + 2.0)
    # A terminated step does not: A = r - V(s) = (t + 1) - t.
    rows, envs = np.nonzero(buffer.terminated.numpy())
    assert np.allclose(advantages[rows, envs], 1.0)
    assert not np.any(advantages[~valid])


@pytest.mark.filterwarnings(r"ignore:Trainer\(max_epochs=2\) stops training")
@pytest.mark.parametrize("limit", [dict(max_epochs=2), dict(max_steps=2 * 2 * 2)])
def test_the_trainers_own_limits_stop_training_without_collecting_an_unused_rollout(limit):
    L.seed_everything(0)
    module = RecordingPPO(
        "CartPole-v1", num_envs=2, num_steps=8, total_env_steps=10**6, update_epochs=2, num_minibatches=2, **TINY
    )
    trainer = L.Trainer(
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, **limit
    )
    trainer.fit(module)
    # Two rollouts of 16 env steps, each learned from in 2 x 2 optimizer steps; no third rollout collected.
    assert module.env_steps == 32 and trainer.global_step == 8
    assert [rollout for rollout, _ in module.collected] == [1, 2]


def test_max_epochs_short_of_total_env_steps_warns_that_an_epoch_is_one_rollout():
    module = lit_rl.PPO(num_envs=2, num_steps=8, total_env_steps=64, **TINY)
    with pytest.warns(UserWarning, match=r"Trainer\(max_epochs=2\) stops training after 32 env steps \(one epoch is"):
        L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False).fit(module)
    assert module.env_steps == 32
