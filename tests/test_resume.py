"""A run killed with SIGKILL resumes from its checkpoint: env steps and epsilon continue."""

import os
import signal
import subprocess
import sys
import time

import torch
import yaml
from conftest import ROOT

from lit_rl.cli import main
from lit_rl.schedules import linear_schedule

TOTAL, LEARNING_STARTS, EXPLORATION_STEPS = 50_000, 1_000, 25_000


def write_config(tmp_path):
    config = yaml.safe_load((ROOT / "configs/dqn_cartpole.yaml").read_text())
    config["trainer"]["callbacks"] = [
        {
            "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
            "init_args": {"dirpath": str(tmp_path / "checkpoints"), "every_n_train_steps": 100, "save_last": True},
        }
    ]
    config["trainer"]["default_root_dir"] = str(tmp_path)
    config["trainer"]["enable_progress_bar"] = False
    config["model"]["init_args"].update(
        total_env_steps=TOTAL, learning_starts=LEARNING_STARTS, exploration_fraction=EXPLORATION_STEPS / TOTAL,
        num_envs=1, train_frequency=1, gradient_steps=1, eval_episodes=2, eval_interval=100_000, hidden_sizes=[64, 64],
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def saved_env_steps(path):
    try:
        return torch.load(path, weights_only=False)["lit_rl"]["env_steps"]
    except Exception:  # not written yet, or caught mid-write
        return 0


def test_killed_run_resumes_env_steps_and_epsilon_from_its_checkpoint(tmp_path):
    config = write_config(tmp_path)
    last = tmp_path / "checkpoints" / "last.ckpt"
    process = subprocess.Popen([sys.executable, "-m", "lit_rl", "fit", "--config", str(config)], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 300
        while saved_env_steps(last) < LEARNING_STARTS + 100:
            assert process.poll() is None and time.monotonic() < deadline, "training did not checkpoint in time"
            time.sleep(0.2)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    checkpoint = torch.load(last, weights_only=False)
    steps_at_kill = checkpoint["lit_rl"]["env_steps"]
    assert checkpoint["lit_rl"]["epsilon"] < 1.0

    # LightningCLI resumes with the checkpoint's model hyperparameters; the Trainer's max_steps still
    # applies. 500 more gradient steps: 1,000 env steps refill the (unsaved) replay buffer, 500 train.
    cli = main(["fit", "--config", str(config), "--trainer.max_steps", str(checkpoint["global_step"] + 500),
                "--ckpt_path", str(last)])
    model = cli.model
    assert cli.trainer.global_step == checkpoint["global_step"] + 500
    # Had the counter restarted at 0, it would now be about 1,500, not past the checkpoint's count.
    assert steps_at_kill + 1_500 <= model.env_steps <= steps_at_kill + 1_550
    expected = linear_schedule(1.0, model.hparams.end_e, EXPLORATION_STEPS, model.env_steps - 1)
    assert abs(model.epsilon - expected) < 1e-3
