"""The command line: every config parses, --print_config costs nothing, fit and validate run."""

import re
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT

import lit_rl
from lit_rl.checks import ConfigurationError
from lit_rl.cli import main

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_config_parses_and_instantiates_without_creating_an_env(config, monkeypatch):
    import gymnasium

    def no_env(*args, **kwargs):
        raise AssertionError("an environment was created while only parsing the config")

    monkeypatch.setattr(gymnasium, "make", no_env)
    monkeypatch.setattr(gymnasium, "make_vec", no_env)
    cli = main(["--config", str(config), "--trainer.logger", "false"], run=False)
    assert cli.model.hparams.env_id


def test_print_config_shows_overrides_and_exits_quickly():
    result = subprocess.run(
        [sys.executable, "-m", "lit_rl", "fit", "--config", str(ROOT / "configs/dqn_cartpole.yaml"),
         "--model.gamma", "0.98", "--seed_everything", "7", "--print_config"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    printed = yaml.safe_load(result.stdout)
    assert printed["model"]["init_args"]["gamma"] == 0.98
    assert printed["seed_everything"] == 7


def test_fit_then_validate_a_checkpoint_from_the_command_line(tmp_path):
    overrides = [
        "--config", str(ROOT / "configs/dqn_cartpole.yaml"),
        "--trainer.default_root_dir", str(tmp_path),
        "--trainer.enable_progress_bar", "false",
        "--model.total_env_steps", "1500",
        "--model.eval_interval", "1000",
        "--model.eval_episodes", "3",
    ]
    fit = main(["fit", *overrides])
    assert fit.model.env_steps >= 1500
    checkpoints = list(tmp_path.rglob("last.ckpt"))
    assert len(checkpoints) == 1
    validate = main(["validate", *overrides, "--ckpt_path", str(checkpoints[0])])
    metrics = validate.trainer.callback_metrics
    assert 1 <= metrics["eval/episodic_return"] <= 500
    assert list(tmp_path.rglob("events.out.tfevents.*")), "no TensorBoard log was written"


def test_dqn_acrobot_config_fits_a_few_hundred_env_steps(tmp_path):
    cli = main([
        "fit", "--config", str(ROOT / "configs/dqn_acrobot.yaml"), "--trainer.default_root_dir", str(tmp_path),
        "--trainer.enable_progress_bar", "false", "--trainer.logger", "false", "--model.total_env_steps", "400",
        "--model.eval_interval", "200", "--model.eval_episodes", "2",
    ])  # fmt: skip
    assert cli.model.hparams.env_id == "Acrobot-v1"
    assert cli.model.env_steps >= 400 and cli.trainer.global_step > 0
    assert -500 <= cli.trainer.callback_metrics["eval/episodic_return"] <= 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"not a checkpoint", "is not a readable checkpoint: the file is damaged"),
        ({"state_dict": {}}, "is not a lit_rl checkpoint"),
        ({"lit_rl": {"algorithm": "PPO", "env_id": "CartPole-v1"}}, "holds a PPO checkpoint, but .* trains DQN"),
        ({"lit_rl": {"algorithm": "DQN", "env_id": "Acrobot-v1"}}, "was trained on env_id='Acrobot-v1'"),
    ],
    ids=["missing", "corrupt", "foreign", "other-algorithm", "other-env"],
)
def test_a_bad_ckpt_path_stops_before_any_run_folder_is_written(tmp_path, content, message, capsys):
    import torch

    ckpt = tmp_path / "given.ckpt"
    if isinstance(content, bytes):
        ckpt.write_bytes(content)
    elif content is not None:
        torch.save(content, ckpt)
    run_dir = tmp_path / "run"
    args = ["fit", "--config", str(ROOT / "configs/dqn_cartpole.yaml"), "--trainer.default_root_dir", str(run_dir)]
    assert_ends_with_one_line(capsys, lambda: main([*args, "--ckpt_path", str(ckpt)]), message)
    assert not run_dir.exists()


def test_ckpt_path_last_resumes_the_newest_run(tmp_path, capsys):
    args = [
        "--config", str(ROOT / "configs/dqn_cartpole.yaml"), "--trainer.default_root_dir", str(tmp_path),
        "--trainer.enable_progress_bar", "false", "--model.eval_episodes", "2", "--model.eval_interval", "1000",
    ]
    first = main(["fit", *args, "--model.total_env_steps", "1200"])
    resumed = main(["fit", *args, "--ckpt_path", "last"])
    # Resumed from the first run's last.ckpt: the counters continue (the budget is spent, so it stops
    # after one round of gradient steps).
    assert resumed.trainer.global_step == first.trainer.global_step + first.model.hparams.gradient_steps
    assert resumed.model.env_steps > first.model.env_steps >= 1200
    empty = ["fit", *args[:2], "--trainer.default_root_dir", str(tmp_path / "empty"), "--ckpt_path", "last"]
    assert_ends_with_one_line(capsys, lambda: main(empty), "found no checkpoints/last")


def assert_ends_with_one_line(capsys, command, message):
    """``command`` exits with status 2, and its last words on stderr are one line that matches ``message``."""
    with pytest.raises(SystemExit) as exit:
        command()
    error = capsys.readouterr().err
    assert exit.value.code == 2, error
    assert "Traceback" not in error
    assert re.fullmatch(f"error: .*{message}.*", error.splitlines()[-1]), error


DQN_PONG_HUGE_BUFFER = [  # a replay buffer larger than the free RAM is refused in setup, before allocating
    "fit", "--config", str(ROOT / "configs/dqn_pong.yaml"), "--model.buffer_size", "100000000",
    "--model.learning_starts", "100", "--model.eval_episodes", "1", "--trainer.logger", "false",
]


def test_a_bad_value_found_in_setup_ends_the_command_with_its_message_alone(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LIT_RL_TRACEBACK", raising=False)
    command = [*DQN_PONG_HUGE_BUFFER, "--trainer.default_root_dir", str(tmp_path)]
    assert_ends_with_one_line(capsys, lambda: main(command), r"buffer_size=100000000 needs 707,\d{3},\d{3},\d{3} bytes")
    # Opt-in: the traceback.
    monkeypatch.setenv("LIT_RL_TRACEBACK", "1")
    with pytest.raises(ConfigurationError, match="buffer_size=100000000 needs"):
        main(command)


def test_a_bad_value_found_while_building_the_model_ends_the_command_with_its_message_alone(capsys, monkeypatch):
    monkeypatch.delenv("LIT_RL_TRACEBACK", raising=False)
    command = ["fit", "--config", str(ROOT / "configs/ppo_cartpole.yaml"), "--model.gamma", "2"]
    assert_ends_with_one_line(capsys, lambda: main(command), re.escape("gamma=2.0 is invalid: it must lie in [0, 1]."))


def test_any_other_error_keeps_its_traceback(tmp_path, monkeypatch):
    monkeypatch.delenv("LIT_RL_TRACEBACK", raising=False)

    def bug(self, stage):
        raise ValueError("not enough values to unpack (expected 2, got 1)")  # a bug, not a bad value

    monkeypatch.setattr(lit_rl.PPO, "setup", bug)
    command = ["fit", "--config", str(ROOT / "configs/ppo_cartpole.yaml"), "--trainer.default_root_dir", str(tmp_path)]
    with pytest.raises(ValueError, match="not enough values to unpack"):
        main([*command, "--trainer.logger", "false"])
