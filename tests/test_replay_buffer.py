import numpy as np
import pytest
import torch

from lit_rl import ReplayBuffer, ReplayDataset


def make_step(values, n_envs=2, obs_dtype=np.uint8):
    """One vector step whose every field encodes ``values`` (one per sub-environment)."""
    values = np.asarray(values)
    obs = np.stack([np.full((3, 2), v, dtype=obs_dtype) for v in values])
    return dict(
        obs=obs,
        actions=values.astype(np.int64),
        rewards=values.astype(np.float32),
        next_obs=obs + 1,
        terminated=values % 2 == 0,
        truncated=values % 3 == 0,
    )


def test_buffer_keeps_uint8_observations_and_named_fields():
    buffer = ReplayBuffer(10, (3, 2), np.uint8, seed=0)
    buffer.add(**make_step([1, 2]))
    batch = buffer.sample(5)
    assert batch.obs.dtype == torch.uint8 and batch.next_obs.dtype == torch.uint8
    assert batch.obs.shape == (5, 3, 2)
    assert batch.terminated.dtype == torch.bool and batch.truncated.dtype == torch.bool
    assert buffer.obs.dtype == np.uint8


def test_buffer_rows_stay_consistent_across_fields():
    buffer = ReplayBuffer(50, (3, 2), np.uint8, seed=1)
    for start in range(0, 40, 2):
        buffer.add(**make_step([start + 1, start + 2]))
    batch = buffer.sample(64)
    v = batch.actions
    assert torch.equal(batch.obs[:, 0, 0].long(), v)
    assert torch.equal(batch.next_obs[:, 0, 0].long(), v + 1)
    assert torch.equal(batch.rewards, v.float())
    assert torch.equal(batch.terminated, v % 2 == 0)
    assert torch.equal(batch.truncated, v % 3 == 0)


def test_ring_wraps_and_overwrites_the_oldest_rows():
    buffer = ReplayBuffer(5, (3, 2), np.uint8, seed=0)
    for start in range(1, 8, 2):  # 8 transitions into 5 rows
        buffer.add(**make_step([start, start + 1]))
    assert len(buffer) == 5
    assert buffer.position == 3
    assert sorted(buffer.actions.tolist()) == [4, 5, 6, 7, 8]


def test_invalid_rows_are_not_stored():
    buffer = ReplayBuffer(5, (3, 2), np.uint8, seed=0)
    buffer.add(**make_step([1, 2]), valid=np.array([False, True]))
    assert len(buffer) == 1 and buffer.actions[0] == 2


def test_nbytes_counts_every_array():
    buffer = ReplayBuffer(100, (4, 84, 84), np.uint8)
    # obs + next_obs (2 * 28224 bytes) + int64 action + float32 reward + two bools + uint8 n_steps
    assert buffer.nbytes == 100 * (2 * 4 * 84 * 84 + 8 + 4 + 1 + 1 + 1)
    assert ReplayBuffer.required_bytes(100, (4, 84, 84), np.uint8) == buffer.nbytes


def test_sampling_an_empty_buffer_says_why():
    with pytest.raises(RuntimeError, match="empty ReplayBuffer"):
        ReplayBuffer(5, (2,)).sample(1)


def test_dataset_yields_the_configured_number_of_batches():
    buffer = ReplayBuffer(10, (3, 2), np.uint8, seed=0)
    buffer.add(**make_step([1, 2]))
    dataset = ReplayDataset(buffer, batch_size=4, batches_per_epoch=3)
    batches = list(dataset)
    assert len(batches) == len(dataset) == 3
    assert all(b.obs.shape == (4, 3, 2) for b in batches)


def test_a_batch_splits_into_equal_minibatches_in_row_order():
    from lit_rl.replay_buffer import ReplayBatch

    rows = torch.arange(6)
    batch = ReplayBatch(rows[:, None].float(), rows, rows.float(), rows[:, None].float(), rows > 4, rows < 0)
    first, second, third = batch.split(3)
    assert first.actions.tolist() == [0, 1] and third.actions.tolist() == [4, 5]
    assert second.obs.tolist() == [[2.0], [3.0]] and third.terminated.tolist() == [False, True]
    assert third.n_steps is None
    assert batch.split(1) == [batch]


def test_a_batch_moves_to_a_device_in_one_call_as_lightning_does():
    from lightning.fabric.utilities.apply_func import move_data_to_device

    from lit_rl.replay_buffer import ReplayBatch

    rows = torch.arange(4)
    batch = ReplayBatch(rows[:, None].float(), rows, rows.float(), rows[:, None].float(), rows > 2, rows < 0)
    moved = move_data_to_device(batch, torch.device("meta"))  # what Trainer's batch transfer calls
    assert isinstance(moved, ReplayBatch) and moved.n_steps is None
    assert all(field.device.type == "meta" for field in moved[:6])
    assert [field.dtype for field in moved[:6]] == [field.dtype for field in batch[:6]]
    assert all(a is b for a, b in zip(batch.to("cpu")[:6], batch[:6], strict=True))  # already there: no copies
