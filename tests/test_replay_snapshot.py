"""Replay snapshots: written beside checkpoints, loaded on resume, never left half-written."""

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

import lit_rl

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


def test_a_corrupt_snapshot_is_reported_and_the_buffer_refilled(tmp_path):
    fit(tmp_path, max_steps=100)
    (tmp_path / "replay-step=100-rank=0.npz").write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="could not be loaded"):
        resumed = fit(tmp_path / "resumed", max_steps=110, ckpt_path=tmp_path / "last.ckpt")
    assert len(resumed.replay_buffer) >= SETTINGS["learning_starts"]


def test_a_crash_while_writing_keeps_the_previous_pair(tmp_path, monkeypatch):
    fit(tmp_path, max_steps=100)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        fit(tmp_path, max_steps=200, ckpt_path=tmp_path / "last.ckpt")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
