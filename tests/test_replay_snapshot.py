"""Replay snapshots: written beside checkpoints, loaded on resume, never left half-written."""

import errno
import io
import os
import re
import shutil
import struct
import zipfile
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

import lit_rl
from lit_rl.callbacks import replay_snapshot
from lit_rl.callbacks.replay_snapshot import KEY

SETTINGS = dict(
    total_env_steps=100_000, learning_starts=200, batch_size=16, hidden_sizes=[16],
    eval_episodes=1, eval_interval=1_000_000, save_replay_buffer=True,
)


def fit(tmp_path, max_steps, ckpt_path=None):
    L.seed_everything(0, verbose=False)
    module = lit_rl.DQN("CartPole-v1", **SETTINGS)
    trainer = L.Trainer(
        max_steps=max_steps, max_epochs=-1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=50, save_last=True, save_top_k=-1)],
    )
    trainer.fit(module, ckpt_path=ckpt_path)
    return module


def test_snapshots_sit_beside_checkpoints_and_only_the_two_newest_are_kept(tmp_path):
    module = fit(tmp_path, max_steps=200)
    assert sorted(p.name for p in tmp_path.glob("replay-*.npz")) == [
        "replay-step=150-rank=0.npz", "replay-step=200-rank=0.npz",
    ]
    with np.load(tmp_path / "replay-step=200-rank=0.npz", allow_pickle=False) as snapshot:
        assert snapshot["global_step"] == 200
        assert len(snapshot["obs"]) == len(module.replay_buffer)
    assert not list(tmp_path.glob(".*.tmp"))


def test_resume_restores_the_buffer_instead_of_refilling_it(tmp_path):
    fit(tmp_path, max_steps=200)
    checkpoint = torch.load(tmp_path / "last.ckpt", weights_only=False)
    with np.load(tmp_path / "replay-step=200-rank=0.npz", allow_pickle=False) as snapshot:
        saved_obs = snapshot["obs"].copy()
    resumed = fit(tmp_path / "resumed", max_steps=210, ckpt_path=tmp_path / "last.ckpt")
    # No refill: exactly one env step per gradient step after the checkpoint.
    assert resumed.env_steps == checkpoint["lit_rl"]["env_steps"] + 10
    assert np.array_equal(resumed.replay_buffer.obs[: len(saved_obs)], saved_obs)


@pytest.mark.parametrize("damage", ["not a zip file", "flipped bytes", "bad deflate block", "cut short"])
def test_a_damaged_snapshot_is_reported_and_the_buffer_refilled(tmp_path, damage):
    fit(tmp_path, max_steps=100)
    path = tmp_path / "replay-step=100-rank=0.npz"
    data = bytearray(path.read_bytes())
    if damage == "not a zip file":
        data = b"not a zip file"
    elif damage == "flipped bytes":  # inside the compressed obs: a bad CRC, or a zlib error
        start = data.index(b"obs.npy") + 200
        data[start : start + 64] = bytes(b ^ 0xFF for b in data[start : start + 64])
    elif damage == "bad deflate block":  # the first block of the compressed obs gets the invalid type 11: a zlib error
        with zipfile.ZipFile(path) as archive:
            offset = archive.getinfo("obs.npy").header_offset
        name_length, extra_length = struct.unpack("<HH", data[offset + 26 : offset + 30])
        data[offset + 30 + name_length + extra_length] |= 0b110
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="could not be loaded"):
        resumed = fit(tmp_path / "resumed", max_steps=110, ckpt_path=tmp_path / "last.ckpt")
    assert len(resumed.replay_buffer) >= SETTINGS["learning_starts"]


def test_one_snapshot_per_checkpoint_step_serves_the_epoch_checkpoint_and_last(tmp_path, monkeypatch):
    renamed = []
    replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renamed.append(Path(dst).name), replace(src, dst))[1])
    fit(tmp_path, max_steps=200)
    snapshots = [name for name in renamed if name.startswith("replay-")]
    # Each checkpoint event writes epoch=0-step=N.ckpt and last.ckpt, and one snapshot for both.
    assert snapshots == [f"replay-step={n}-rank=0.npz" for n in (50, 100, 150, 200)]
    for name in ("epoch=0-step=200.ckpt", "last.ckpt"):
        assert torch.load(tmp_path / name, weights_only=False)[KEY] == {"global_step": 200}
    resumed = fit(tmp_path / "resumed", max_steps=210, ckpt_path=tmp_path / "epoch=0-step=200.ckpt")
    checkpoint = torch.load(tmp_path / "last.ckpt", weights_only=False)
    assert resumed.env_steps == checkpoint["lit_rl"]["env_steps"] + 10  # restored, not refilled


class FillingDisk(io.FileIO):
    """A file on a disk that fills after ``room`` bytes: the write that crosses it raises ENOSPC."""

    room = 3000

    def write(self, data):
        if self.tell() + len(data) > self.room:
            super().write(bytes(data)[: self.room - self.tell()])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_disk_that_fills_while_writing_keeps_the_previous_pair_and_says_what_is_needed(tmp_path, monkeypatch):
    fit(tmp_path, max_steps=100)
    before = files(tmp_path)
    monkeypatch.setattr(replay_snapshot, "open", lambda path, mode: FillingDisk(path, mode[0]), raising=False)
    with pytest.raises(OSError) as raised:
        fit(tmp_path, max_steps=200, ckpt_path=tmp_path / "last.ckpt")
    message = str(raised.value)
    assert raised.value.errno == errno.ENOSPC and "\n" not in message
    path = tmp_path / "replay-step=150-rank=0.npz"
    match = re.search(rf"Replay snapshot {re.escape(str(path))} needs ([\d,]+) bytes .* has ([\d,]+) bytes", message)
    assert match, message
    needed = int(match.group(1).replace(",", ""))
    # The checkpoints and the snapshot of step 100 (last.ckpt's) are untouched, no temporary file is left;
    # only the snapshot of step 50, which no checkpoint of this run needs any more, was deleted to make room.
    after = files(tmp_path)
    assert after == {name: data for name, data in before.items() if name != "replay-step=50-rank=0.npz"}
    # The bytes it said it needs are the size of the snapshot that a disk with room writes.
    monkeypatch.undo()
    fit(tmp_path, max_steps=150, ckpt_path=tmp_path / "last.ckpt")
    assert path.stat().st_size == needed > FillingDisk.room


def test_a_disk_without_room_stops_before_writing(tmp_path, monkeypatch):
    fit(tmp_path, max_steps=100)
    before = files(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(free=2000))
    monkeypatch.setattr(replay_snapshot, "open", lambda *args: pytest.fail("nothing may be written"), raising=False)
    with pytest.raises(OSError, match=r"replay-step=150-rank=0.npz needs [\d,]+ bytes .* has 2,000 bytes .* free"):
        fit(tmp_path, max_steps=200, ckpt_path=tmp_path / "last.ckpt")
    assert files(tmp_path).keys() == before.keys() - {"replay-step=50-rank=0.npz"}


def test_npz_size_is_the_size_write_snapshot_gives(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"frames": rng.integers(0, 4, size=(3, 50, 84, 84), dtype=np.uint8)[:, :40], "step": np.int64(7)}
    size = replay_snapshot.write_snapshot(tmp_path / "x.npz", arrays)
    assert size == replay_snapshot.npz_size(arrays) == (tmp_path / "x.npz").stat().st_size
    with np.load(tmp_path / "x.npz", allow_pickle=False) as loaded:
        np.testing.assert_array_equal(loaded["frames"], arrays["frames"])
        assert loaded["step"] == 7


def test_older_snapshots_are_removed_before_writing_and_later_ones_kept(tmp_path):
    names = [f"replay-step={n}-rank=0.npz" for n in (50, 100, 150, 300)]
    names += ["replay-step=100-rank=1.npz", ".replay-step=150-rank=0.npz.tmp", ".replay-step=150-rank=1.npz.tmp"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    replay_snapshot._remove_old_snapshots(tmp_path, rank=0, step=200)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([
        ".replay-step=150-rank=1.npz.tmp", "replay-step=100-rank=1.npz",
        "replay-step=150-rank=0.npz", "replay-step=300-rank=0.npz",
    ])  # fmt: skip
