"""PrioritizedReplayBuffer: draws in proportion to priority, importance weights, max priority for new transitions,
no draw of frame slots without a transition, and priorities that survive a snapshot."""

import math

import numpy as np
import pytest
import torch
from test_frame_replay_buffer import FRAME, STACK, FakeFrameStackEnv, fill
from test_frame_replay_buffer_snapshot import Both

from lit_rl.callbacks.replay_snapshot import write_snapshot
from lit_rl.frame_replay_buffer import FrameReplayBuffer
from lit_rl.n_step_replay import NStepReplayBuffer
from lit_rl.prioritized_replay import PrioritizedReplayBuffer, importance_weights
from lit_rl.replay_buffer import ReplayBuffer


def vector_buffer(capacity, count, alpha=0.5, eps=1e-6, seed=0):
    """A prioritized ``ReplayBuffer`` of 1-d observations holding transitions 0..count-1 (obs = id)."""
    buffer = PrioritizedReplayBuffer(ReplayBuffer(capacity, (1,), seed=seed), alpha=alpha, eps=eps)
    for start in range(0, count, 2):
        ids = np.arange(start, min(start + 2, count), dtype=np.float32)[:, None]
        flags = np.zeros(len(ids), dtype=bool)
        rows = buffer.add(ids, np.zeros(len(ids), np.int64), np.zeros(len(ids)), ids, flags, flags)
        np.testing.assert_array_equal(rows, (start + np.arange(len(ids))) % capacity)
    return buffer


def test_draws_follow_the_priorities_within_a_statistical_bound():
    buffer = vector_buffer(capacity=50, count=40, alpha=0.6)
    td_errors = np.random.default_rng(1).exponential(size=40)
    buffer.update_priorities(np.arange(40), td_errors)
    priorities = (td_errors + 1e-6) ** 0.6
    expected = priorities / priorities.sum()
    draws, batch_size = 128_000, 64
    counts = np.zeros(50)
    for _ in range(draws // batch_size):
        batch = buffer.sample(batch_size)
        np.testing.assert_array_equal(batch.obs[:, 0].numpy(), batch.indices.numpy())  # row i holds transition i
        np.add.at(counts, batch.indices.numpy(), 1)
    assert counts[40:].sum() == 0, "rows never written were drawn"
    # Each count is within 5 standard deviations of a binomial draw (stratification only narrows it).
    bound = 5 * np.sqrt(draws * expected * (1 - expected)) + 1
    assert (np.abs(counts[:40] - draws * expected) < bound).all(), np.abs(counts[:40] - draws * expected) / bound
    assert counts[np.argmax(expected)] > 3 * counts[np.argmin(expected)]  # not uniform


def test_importance_weights_on_a_hand_computed_case():
    probabilities = np.array([0.1, 0.2, 0.3, 0.4])
    # (N * P(i)) ** -beta over the largest of them, that of P = 0.1: (P / 0.1) ** -beta.
    np.testing.assert_allclose(importance_weights(probabilities, 4, 0.5), [1, 1 / math.sqrt(2), 1 / math.sqrt(3), 0.5])
    np.testing.assert_allclose(importance_weights(probabilities, 4, 1.0), [1, 1 / 2, 1 / 3, 1 / 4])
    np.testing.assert_allclose(importance_weights(probabilities, 4, 0.0), [1, 1, 1, 1])
    np.testing.assert_allclose(importance_weights(probabilities[1:], 4, 1.0), [1, 2 / 3, 1 / 2])  # the batch's max

    # Through the buffer: priorities 1, 2, 3, 4 (alpha = 1), so P = 0.1 .. 0.4, beta = 0.5.
    buffer = vector_buffer(capacity=4, count=4, alpha=1.0, eps=1e-9)
    buffer.update_priorities(torch.arange(4), torch.tensor([1.0, 2.0, 3.0, 4.0]))
    buffer.beta = 0.5
    batch = buffer.sample(64)
    hand = {0: 1.0, 1: 1 / math.sqrt(2), 2: 1 / math.sqrt(3), 3: 0.5}
    assert set(batch.indices.tolist()) == {0, 1, 2, 3}
    np.testing.assert_allclose(batch.weights.numpy(), [hand[i] for i in batch.indices.tolist()], rtol=1e-6)
    assert batch.weights.dtype == torch.float32 and batch.indices.dtype == torch.int64
    # Split into one minibatch per gradient step, each minibatch's largest weight is 1 again.
    for part in batch.to("cpu").split(8):
        expected = np.array([hand[i] for i in part.indices.tolist()])
        np.testing.assert_allclose(part.weights.numpy(), expected / expected.max(), rtol=1e-6)


def test_new_transitions_get_the_largest_priority_set_so_far():
    buffer = vector_buffer(capacity=8, count=2, alpha=0.5, eps=0.01)
    np.testing.assert_array_equal(buffer.tree.priorities, [1, 1, 0, 0, 0, 0, 0, 0])  # 1 before any update
    buffer.update_priorities(np.array([0, 1]), np.array([3.99, -0.0]))  # (3.99 + 0.01) ** 0.5 = 2; 0.1
    assert buffer.max_priority == 2.0
    ids, flags = np.array([[2.0]], np.float32), np.zeros(1, bool)
    buffer.add(ids, np.zeros(1, np.int64), np.zeros(1), ids, flags, flags)
    buffer.update_priorities(np.array([0]), np.array([0.0]))  # the largest priority never decreases
    buffer.add(ids, np.zeros(1, np.int64), np.zeros(1), ids, flags, flags)
    np.testing.assert_allclose(buffer.tree.priorities[:4], [0.1, 0.1, 2.0, 2.0])
    assert buffer.max_priority == 2.0


def test_an_index_repeated_in_one_update_takes_its_last_value():
    buffer = vector_buffer(capacity=4, count=4, alpha=1.0, eps=0.5)
    buffer.update_priorities(np.array([1, 2, 1, 1]), np.array([1.0, 3.0, 5.0, 2.0]))
    np.testing.assert_array_equal(buffer.tree.priorities, [1.0, 2.5, 3.5, 1.0])
    assert buffer.max_priority == 5.5  # the largest given, as in OpenAI Baselines


def test_n_step_transitions_get_priorities_when_their_window_completes():
    storage = NStepReplayBuffer(ReplayBuffer(16, (1,), seed=0), n_step=3, gamma=0.9, num_envs=2)
    buffer = PrioritizedReplayBuffer(storage)
    obs, flags = np.zeros((2, 1), np.float32), np.zeros(2, bool)
    stored = [len(buffer.add(obs, np.zeros(2, np.int64), np.ones(2), obs, flags, flags)) for _ in range(4)]
    assert stored == [0, 0, 2, 2] and len(buffer) == 4
    np.testing.assert_array_equal(buffer.tree.priorities > 0, np.arange(16) < 4)
    assert (buffer.sample(32).n_steps == 3).all()


def sampleable_slots(buffer):
    """Reference: the index of every stored transition of a FrameReplayBuffer, from its ring positions."""
    indices = set()
    for env in range(buffer.num_envs):
        for counter in range(max(buffer.stack, buffer.written[env] - buffer.slots + buffer.stack), buffer.written[env]):
            if buffer.has_transition[env, counter % buffer.slots]:
                indices.add(env * buffer.slots + counter % buffer.slots)
    return indices


@pytest.mark.parametrize("padding", ["zero", "reset"])
def test_frame_slots_without_a_transition_are_never_drawn(padding):
    env, rng, log = FakeFrameStackEnv(num_envs=3, padding=padding), np.random.default_rng(0), []
    storage = FrameReplayBuffer(60, (STACK, *FRAME), num_envs=3, seed=0)
    buffer = PrioritizedReplayBuffer(storage, alpha=0.6)
    stale = None
    for steps in [3, 5, 10, 20, 7, 40, 13, 60, 9]:  # past the first wrap of each env's ring, many times
        fill(buffer, env, steps, rng, log)
        if stale is not None:
            # The batch drawn before these adds: some of its slots were overwritten or lost their stack since.
            buffer.update_priorities(stale.indices, rng.exponential(size=len(stale.indices)))
        expected = sampleable_slots(storage)
        assert set(np.flatnonzero(buffer.tree.priorities > 0)) == expected
        assert len(expected) == len(buffer)
        batch = buffer.sample(256)
        assert set(batch.indices.tolist()) <= expected
        for j, transition_id in enumerate(batch.actions.tolist()):  # each drawn row is the transition logged
            _, obs, reward, next_obs, terminated, truncated, valid = log[transition_id]
            assert valid
            np.testing.assert_array_equal(batch.obs[j].numpy(), obs)
            np.testing.assert_array_equal(batch.next_obs[j].numpy(), next_obs)
            assert (batch.rewards[j], batch.terminated[j], batch.truncated[j]) == (reward, terminated, truncated)
        stale = batch


def save_and_load(buffer, path):
    """The snapshot's round trip: ``write_snapshot`` (zlib ``.npz``), then ``np.load`` without pickles."""
    write_snapshot(path, {"global_step": np.int64(1), **buffer.state_dict()})
    with np.load(path, allow_pickle=False) as snapshot:
        return {k: snapshot[k] for k in snapshot.files if k != "global_step"}


def assert_same(original, restored, batch_size=64):
    np.testing.assert_array_equal(restored.tree.nodes, original.tree.nodes)
    assert restored.max_priority == original.max_priority and len(restored) == len(original)
    restored.rng.bit_generator.state = original.rng.bit_generator.state  # DQN's checkpoint restores it
    for ours, theirs in zip(original.sample(batch_size), restored.sample(batch_size), strict=True):
        torch.testing.assert_close(theirs, ours, rtol=0, atol=0)


def test_priorities_survive_a_snapshot_of_frames_and_of_n_step_transitions(tmp_path):
    env, rng = FakeFrameStackEnv(num_envs=3, padding="zero"), np.random.default_rng(0)
    frames = [PrioritizedReplayBuffer(FrameReplayBuffer(60, (STACK, *FRAME), num_envs=3, seed=s)) for s in (0, 1)]
    original, restored = frames
    for _ in range(4):
        fill(original, env, 30, rng, [])
        batch = original.sample(32)
        original.update_priorities(batch.indices, rng.exponential(size=32))
    restored.load_state_dict(save_and_load(original, tmp_path / "frames.npz"))
    assert_same(original, restored)
    fill(Both(original, restored), env, 40, rng, [])  # both go on alike: adds, draws, updates
    for buffer in (original, restored):
        buffer.update_priorities(np.arange(0, buffer.num_indices, 3), np.arange(0, buffer.num_indices, 3) / 10)
    assert_same(original, restored)

    def n_step(seed):
        return PrioritizedReplayBuffer(NStepReplayBuffer(ReplayBuffer(40, (1,), seed=seed), 3, 0.9, 2), alpha=0.6)

    original, restored = n_step(0), n_step(1)
    obs, flags = np.zeros((2, 1), np.float32), np.zeros(2, bool)
    for step in range(30):
        ends = np.array([step % 7 == 6, False])
        original.add(obs + step, np.zeros(2, np.int64), np.ones(2), obs + step + 1, ends, flags)
        original.update_priorities(np.arange(len(original)), rng.exponential(size=len(original)))
    restored.load_state_dict(save_and_load(original, tmp_path / "n_step.npz"))
    assert_same(original, restored)


def test_a_snapshot_without_priorities_loads_with_the_largest_priority_for_every_stored_transition(tmp_path):
    env, rng = FakeFrameStackEnv(num_envs=3, padding="zero"), np.random.default_rng(0)
    storage = FrameReplayBuffer(60, (STACK, *FRAME), num_envs=3, seed=0)
    fill(storage, env, 50, rng, [])  # a buffer without prioritization wrote this snapshot
    buffer = PrioritizedReplayBuffer(FrameReplayBuffer(60, (STACK, *FRAME), num_envs=3, seed=0))
    buffer.load_state_dict(save_and_load(storage, tmp_path / "replay.npz"))
    assert set(np.flatnonzero(buffer.tree.priorities)) == sampleable_slots(buffer.buffer)
    assert set(buffer.tree.priorities.tolist()) == {0.0, 1.0}
    assert len(buffer) == len(storage) > 0


def test_a_snapshot_that_does_not_fit_is_refused_and_changes_nothing(tmp_path):
    original = vector_buffer(capacity=8, count=6)
    state = save_and_load(original, tmp_path / "replay.npz")
    target = vector_buffer(capacity=8, count=2)
    for bad, match in [
        (dict(state, priorities=state["priorities"][:4]), r"has \(4,\) priorities but .* \(8,\) indices"),
        (dict(state, priorities=-state["priorities"]), "finite and >= 0"),
    ]:
        with pytest.raises(ValueError, match=match):
            target.load_state_dict(bad)
        assert len(target) == 2 and target.tree.total == 2.0


def test_bad_arguments_are_refused():
    storage = ReplayBuffer(4, (1,))
    for kwargs, match in [
        (dict(alpha=1.5), r"priority_alpha=1.5 is invalid"),
        (dict(beta=-0.1), r"priority_beta=-0.1 is invalid"),
        (dict(eps=0.0), r"priority_eps=0.0 is invalid"),
    ]:
        with pytest.raises(ValueError, match=match):
            PrioritizedReplayBuffer(storage, **kwargs)
    buffer = PrioritizedReplayBuffer(storage)
    with pytest.raises(RuntimeError, match="empty"):
        buffer.sample(2)
    with pytest.raises(ValueError, match="non-finite"):
        buffer.update_priorities(np.array([0]), np.array([np.inf]))
