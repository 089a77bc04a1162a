"""FrameReplayBuffer snapshots: a reloaded buffer holds, samples and grows exactly as the one saved."""

import zipfile

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from test_frame_replay_buffer import FRAME, STACK, FakeFrameStackEnv, fill

import lit_rl
from lit_rl import frame_replay_buffer
from lit_rl.frame_replay_buffer import STORAGE, FrameReplayBuffer

ARGS = dict(capacity=60, observation_shape=(STACK, *FRAME), num_envs=3)


class Both:
    """Adds every vector step to two buffers, so that both are fed the same data."""

    def __init__(self, *buffers):
        self.buffers = buffers

    def add(self, *args, **kwargs):
        for buffer in self.buffers:
            buffer.add(*args, **kwargs)


def stored_transitions(buffer):
    """Every stored transition, rebuilt, in ring order."""
    envs, counters = [], []
    for env in range(buffer.num_envs):
        first = max(buffer.stack, buffer.written[env] - buffer.slots + buffer.stack)
        for counter in range(first, buffer.written[env]):
            if buffer.has_transition[env, counter % buffer.slots]:
                envs.append(env)
                counters.append(counter)
    return buffer._gather(np.array(envs, dtype=np.int64), np.array(counters, dtype=np.int64))


def assert_same(original, restored):
    assert len(restored) == len(original)
    for name in (*STORAGE, "written"):
        np.testing.assert_array_equal(getattr(restored, name), getattr(original, name), err_msg=name)
    for ours, theirs in zip(stored_transitions(original), stored_transitions(restored), strict=True):
        assert ours is None or len(ours) == len(original)  # None: the prioritized-replay fields
        torch.testing.assert_close(theirs, ours, rtol=0, atol=0)
    restored.rng.bit_generator.state = original.rng.bit_generator.state  # DQN's checkpoint restores it
    for ours, theirs in zip(original.sample(100), restored.sample(100), strict=True):
        torch.testing.assert_close(theirs, ours, rtol=0, atol=0)


def save_and_load(buffer, path):
    with open(path, "wb") as file:
        np.savez(file, **buffer.state_dict())
    with np.load(path, allow_pickle=False) as snapshot:
        return {k: snapshot[k] for k in snapshot.files}


@pytest.mark.parametrize("steps", [5, 100])  # before and after each env's ring wrapped
def test_a_reloaded_buffer_rebuilds_the_same_transitions_and_grows_the_same(tmp_path, steps):
    env, rng, log = FakeFrameStackEnv(num_envs=3, padding="zero"), np.random.default_rng(0), []
    original = FrameReplayBuffer(**ARGS, seed=0)
    fill(original, env, steps, rng, log)
    assert not env.done.all(), "some env must be mid-episode, so its next add continues the stored stack"
    restored, state = FrameReplayBuffer(**ARGS, seed=1), save_and_load(original, tmp_path / "replay.npz")
    restored.load_state_dict(state)
    whole_ring = state["frames"].shape[1] == original.slots
    assert whole_ring == (steps == 100)
    assert (restored.frames is state["frames"]) == whole_ring, "np.load's whole rings are taken over, not copied"
    assert_same(original, restored)
    # Further adds continue episodes (the per-env last stack must be recognised) and start new ones.
    fill(Both(original, restored), env, 50, rng, log)
    assert_same(original, restored)


def test_a_snapshot_of_a_filling_ring_holds_only_its_filled_slots(tmp_path):
    env, rng = FakeFrameStackEnv(num_envs=3, padding="zero"), np.random.default_rng(0)
    original = FrameReplayBuffer(**dict(ARGS, capacity=300))
    fill(original, env, 10, rng, [])
    filled = original.written.max()
    assert original.written.min() < filled < original.slots, "the envs must have written different numbers of slots"
    state = original.state_dict()
    for name in STORAGE:
        assert state[name].shape[:2] == (3, filled), name
    restored = FrameReplayBuffer(**dict(ARGS, capacity=300))
    restored.load_state_dict(save_and_load(original, tmp_path / "replay.npz"))
    assert_same(original, restored)
    fill(Both(original, restored), env, 200, rng, [])  # the restored ring fills up and wraps like the original
    assert_same(original, restored)


def earlier_snapshot(buffer, path, global_step):
    """The file ReplaySnapshot wrote before snapshots held only the filled slots: the whole ring, stored."""
    whole_ring = {name: getattr(buffer, name) for name in (*STORAGE, "written")}
    layout = dict(capacity=buffer.capacity, num_envs=buffer.num_envs, observation_shape=buffer.observation_shape)
    arrays = whole_ring | {k: np.array(v, dtype=np.int64) for k, v in layout.items()}
    with open(path, "wb") as file:
        np.savez(file, global_step=np.int64(global_step), **arrays, size=np.array(buffer.size, dtype=np.int64))
    with zipfile.ZipFile(path) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
        assert archive.getinfo("frames.npy").file_size > buffer.frames.nbytes


@pytest.mark.parametrize("steps", [5, 100])  # a ring still filling (zeros after its filled slots), a wrapped one
def test_a_snapshot_written_by_earlier_lit_rl_still_loads(tmp_path, steps):
    env, rng = FakeFrameStackEnv(num_envs=3, padding="zero"), np.random.default_rng(0)
    original = FrameReplayBuffer(**ARGS, seed=0)
    fill(original, env, steps, rng, [])
    earlier_snapshot(original, tmp_path / "replay.npz", global_step=7)
    restored = FrameReplayBuffer(**ARGS, seed=1)
    with np.load(tmp_path / "replay.npz", allow_pickle=False) as snapshot:
        assert snapshot["global_step"] == 7
        restored.load_state_dict({k: snapshot[k] for k in snapshot.files if k != "global_step"})
    assert_same(original, restored)
    fill(Both(original, restored), env, 50, rng, [])
    assert_same(original, restored)


def test_state_dict_shares_the_storage_and_loading_it_in_memory_does_not():
    env, rng = FakeFrameStackEnv(num_envs=3, padding="reset"), np.random.default_rng(0)
    original = FrameReplayBuffer(**ARGS)
    fill(original, env, 30, rng, [])
    state = original.state_dict()
    assert all(isinstance(a, np.ndarray) and a.dtype != object for a in state.values())
    assert np.shares_memory(state["frames"], original.frames) and not state["frames"].flags.writeable
    restored = FrameReplayBuffer(**ARGS)
    restored.load_state_dict(state)  # read-only arrays: copied, never shared between two buffers
    assert not np.shares_memory(restored.frames, original.frames)
    assert_same(original, restored)
    fill(Both(original, restored), env, 30, rng, [])
    assert_same(original, restored)


@pytest.mark.parametrize(
    "other, mismatch",
    [
        (dict(ARGS, capacity=90), r"capacity=60 but this FrameReplayBuffer has capacity=90"),
        (dict(ARGS, num_envs=2, capacity=60), r"num_envs=3 but this FrameReplayBuffer has num_envs=2"),
        (dict(ARGS, observation_shape=(3, *FRAME)), r"observation_shape=\(4, 2, 3\) but .*=\(3, 2, 3\)"),
        (dict(ARGS, observation_shape=(STACK, 3, 2)), r"observation_shape=\(4, 2, 3\) but .*=\(4, 3, 2\)"),
        (dict(ARGS, observation_dtype=np.float32), r"snapshot's frames is uint8 .* is float32"),
        (dict(ARGS, action_shape=(2,)), r"snapshot's actions is int64 \(3, 24\) .* \(3, 24, 2\)"),
    ],
)
def test_a_snapshot_of_another_layout_is_refused_and_changes_nothing(tmp_path, other, mismatch):
    env, rng = FakeFrameStackEnv(num_envs=3, padding="zero"), np.random.default_rng(0)
    original = FrameReplayBuffer(**ARGS)
    fill(original, env, 20, rng, [])
    buffer = FrameReplayBuffer(**other)
    before = {name: getattr(buffer, name) for name in (*STORAGE, "written")}
    with pytest.raises(ValueError, match=mismatch):
        buffer.load_state_dict(save_and_load(original, tmp_path / "replay.npz"))
    assert len(buffer) == 0 and all(getattr(buffer, name) is array for name, array in before.items())


def test_a_snapshot_cut_before_its_ring_positions_or_too_big_for_the_ram_is_refused(monkeypatch):
    env, rng = FakeFrameStackEnv(num_envs=3, padding="zero"), np.random.default_rng(0)
    original = FrameReplayBuffer(**ARGS)
    fill(original, env, 5, rng, [])
    state = original.state_dict()
    cut = state | {name: state[name][:, :-1] for name in STORAGE}
    buffer = FrameReplayBuffer(**ARGS)
    before = {name: getattr(buffer, name) for name in (*STORAGE, "written")}
    with pytest.raises(ValueError, match=r"holds \d+ slots per env but its ring positions need \d+ \(of 24\)"):
        buffer.load_state_dict(cut)
    monkeypatch.setattr(frame_replay_buffer, "memory_available", lambda: 100)
    with pytest.raises(ValueError, match=r"needs [\d,]+ bytes of RAM but only 100 are available"):
        buffer.load_state_dict(state)
    assert len(buffer) == 0 and all(getattr(buffer, name) is array for name, array in before.items())


# ---------------------------------------------------------------- DQN on Pong, saved and resumed
NUM_ENVS = 2
SETTINGS = dict(
    num_envs=NUM_ENVS, total_env_steps=100_000, buffer_size=64, learning_starts=64, batch_size=8,
    eval_episodes=1, eval_interval=1_000_000, save_replay_buffer=True,
)  # fmt: skip


class BufferAtTrainStart(L.Callback):
    """Records the buffer as training starts: after the snapshot was loaded and any refill was done."""

    def on_train_start(self, trainer, pl_module):
        self.size, self.env_steps = len(pl_module.replay_buffer), pl_module.env_steps
        self.frames = pl_module.replay_buffer.frames.copy()


def fit_pong(tmp_path, max_steps, ckpt_path=None):
    L.seed_everything(0, verbose=False)
    module, record = lit_rl.DQN("PongNoFrameskip-v4", **SETTINGS), BufferAtTrainStart()
    checkpoints = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=5, save_last=True)
    trainer = L.Trainer(
        max_steps=max_steps, max_epochs=-1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, callbacks=[checkpoints, record],
    )  # fmt: skip
    trainer.fit(module, ckpt_path=ckpt_path)
    return module, record


@pytest.mark.parametrize("written_by", ["this version", "earlier lit_rl"])
def test_a_resumed_pong_run_restores_its_frame_buffer_instead_of_refilling_it(tmp_path, recwarn, written_by):
    module, _ = fit_pong(tmp_path, max_steps=10)
    assert isinstance(module.replay_buffer, FrameReplayBuffer)
    checkpoint = torch.load(tmp_path / "last.ckpt", weights_only=False)
    path = tmp_path / "replay-step=10-rank=0.npz"
    with np.load(path, allow_pickle=False) as snapshot:
        saved_size, saved_frames = int(snapshot["size"]), snapshot["frames"]
    assert saved_size == len(module.replay_buffer) > SETTINGS["batch_size"]
    assert module.replay_buffer.written.min() > module.replay_buffer.slots, "every env's ring must have wrapped"
    np.testing.assert_array_equal(saved_frames, module.replay_buffer.frames)
    # Pong frames compress well: the deflated snapshot is a fraction of the ring.
    assert path.stat().st_size < module.replay_buffer.nbytes / 4
    if written_by == "earlier lit_rl":
        earlier_snapshot(module.replay_buffer, path, global_step=10)
    resumed, record = fit_pong(tmp_path / "resumed", max_steps=14, ckpt_path=tmp_path / "last.ckpt")
    assert not [w for w in recwarn if "could not be loaded" in str(w.message)]
    assert (record.size, record.env_steps) == (saved_size, checkpoint["lit_rl"]["env_steps"])
    np.testing.assert_array_equal(record.frames, saved_frames)
    # No refill: exactly one vector step of NUM_ENVS env steps per gradient step after the checkpoint.
    assert resumed.env_steps == checkpoint["lit_rl"]["env_steps"] + 4 * NUM_ENVS
