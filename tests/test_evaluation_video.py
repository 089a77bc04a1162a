"""Evaluation video: an .mp4 file under the run's log folder and a GIF in TensorBoard."""

import cv2
import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import lit_rl


def test_evaluation_writes_a_valid_video_and_a_tensorboard_gif(tmp_path):
    L.seed_everything(0, verbose=False)
    agent = lit_rl.DQN(
        "PongNoFrameskip-v4", total_env_steps=64, learning_starts=32, batch_size=8, buffer_size=64,
        gradient_steps=2,  # two optimizer steps per Lightning batch: global_step is not the env step or the log step
        eval_episodes=1, eval_interval=64, eval_epsilon=0.05,
    )
    logger = TensorBoardLogger(tmp_path, name="run", version=0)
    trainer = L.Trainer(
        max_epochs=-1, logger=logger, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[lit_rl.EvaluationVideo(max_frames=40, fps=15)],
    )
    trainer.fit(agent)
    videos = sorted((tmp_path / "run" / "version_0" / "videos").glob("*.mp4"))
    # Named by the env steps trained, the axis users read returns against.
    assert agent.env_steps == 64 and [v.name for v in videos] == ["eval-env_steps=64.mp4"]
    capture = cv2.VideoCapture(str(videos[0]))
    assert capture.isOpened()
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 40
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (160, 210)
    ok, frame = capture.read()
    assert ok and frame.shape == (210, 160, 3) and frame.std() > 0
    events = EventAccumulator(str(tmp_path / "run" / "version_0"), size_guidance={"images": 0}).Reload()
    assert "eval/video" in events.Tags()["images"]
    (gif,) = events.Images("eval/video")
    assert gif.encoded_image_string.startswith(b"GIF89a")
    # At the TensorBoard step of the evaluation's scores, so the two line up.
    (score,) = events.Scalars("eval/episodic_return")
    assert gif.step == score.step != trainer.global_step


def test_rendering_problems_stop_the_run_before_training(tmp_path, monkeypatch):
    import gymnasium

    def cannot_render(*args, **kwargs):
        raise gymnasium.error.DependencyNotInstalled("pygame is not installed")

    monkeypatch.setattr(gymnasium.vector.SyncVectorEnv, "render", cannot_render)
    agent = lit_rl.DQN("CartPole-v1", total_env_steps=1_000, record_video=True)
    trainer = L.Trainer(max_epochs=-1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    try:
        trainer.fit(agent)
    except RuntimeError as error:
        assert "EvaluationVideo cannot render env_id='CartPole-v1'" in str(error)
    else:
        raise AssertionError("expected a RuntimeError")
    assert agent.env_steps == 0
