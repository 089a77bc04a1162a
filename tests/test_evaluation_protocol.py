"""A run's logged hyperparameters say how its evaluation episodes are played."""

import lightning as L
import pytest
from conftest import TINY
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import plugin_data_pb2

import lit_rl


def tensorboard_hparams(log_dir):
    """The hyperparameters TensorBoard's HParams tab shows for a run."""
    (events,) = log_dir.glob("events.out.tfevents.*")
    for event in EventFileLoader(str(events)).Load():
        for value in event.summary.value:
            if value.tag == "_hparams_/session_start_info":
                data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                hparams = data.session_start_info.hparams
                return {name: getattr(v, v.WhichOneof("kind")) for name, v in hparams.items()}
    raise AssertionError("no hyperparameters were logged")


@pytest.mark.parametrize(
    ("make", "shown"),
    [
        (lambda: lit_rl.PPO(num_envs=2, num_steps=8, total_env_steps=16, **TINY), {"eval_policy": "greedy"}),
        (lambda: lit_rl.A2C(num_envs=2, num_steps=8, total_env_steps=16, **TINY), {"eval_policy": "greedy"}),
        (
            lambda: lit_rl.DQN(
                total_env_steps=40, learning_starts=32, batch_size=8, buffer_size=64, eval_epsilon=0.05, **TINY
            ),
            {"eval_epsilon": 0.05},
        ),
    ],
    ids=["PPO", "A2C", "DQN"],
)
def test_tensorboard_hparams_say_whether_evaluation_is_greedy(make, shown, tmp_path):
    module = make()
    trainer = L.Trainer(
        max_epochs=-1, logger=TensorBoardLogger(tmp_path, name="run", version=0), enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(module)
    hparams = tensorboard_hparams(tmp_path / "run" / "version_0")
    assert {name: hparams[name] for name in shown} == shown
    assert "eval_policy" not in module.hparams  # not an argument: checkpoints do not carry it
