"""Recording an evaluation episode to a video file and to TensorBoard."""

from __future__ import annotations

import io
import os
from pathlib import Path

import lightning as L
import numpy as np
from lightning.pytorch.loggers import TensorBoardLogger

from lit_rl.checks import check_positive
from lit_rl.envs import make_vector_env
from lit_rl.seeding import run_seed

VIDEO_SEED_OFFSET = 2_000_000
MAX_GIF_FRAMES = 400  # TensorBoard gets a subsampled GIF; the .mp4 keeps every frame


class EvaluationVideo(L.Callback):
    """After every ``every_n_evaluations``-th evaluation, play one episode with the module's
    evaluation policy and save it as ``<log_dir>/videos/eval-env_steps=N.mp4``, N the env steps
    trained so far (the axis returns are read against), and as the TensorBoard image ``eval/video``
    (an animated GIF) at the step of that evaluation's ``eval/*`` scalars. Runs on rank 0 only.

    The episode is played on a rendering copy of the training env (for Atari, the gymnasium
    backend, which gives the agent the same frame stacks). The module provides
    ``evaluation_actions(obs)``, ``num_evaluations`` (validation loops that played episodes),
    ``env_steps`` and ``hparams.env_id`` / ``hparams.env_kwargs``.

    Args:
        every_n_evaluations: record after every n-th evaluation.
        max_frames: stop recording after this many frames.
        fps: frames per second of the video file.
    """

    def __init__(self, every_n_evaluations: int = 1, max_frames: int = 5_000, fps: int = 30) -> None:
        check_positive("every_n_evaluations", every_n_evaluations)
        check_positive("max_frames", max_frames)
        check_positive("fps", fps)
        self.every_n_evaluations = every_n_evaluations
        self.max_frames = max_frames
        self.fps = fps
        self.seen_evaluations = 0
        self.env = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not trainer.is_global_zero:
            return
        hp = pl_module.hparams
        self.env = make_vector_env(hp.env_id, 1, hp.get("env_kwargs"), render_mode="rgb_array")
        try:  # fail before training, not at the first evaluation
            self.env.reset(seed=0)
            self.env.render()
        except Exception as error:
            raise RuntimeError(
                f"EvaluationVideo cannot render env_id={hp.env_id!r}: {error}. Install what it names "
                "(classic control needs `pip install gymnasium[classic-control]`) or turn recording off."
            ) from error

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.env is None or pl_module.num_evaluations == self.seen_evaluations:
            return  # no episodes were played in this validation loop
        self.seen_evaluations = pl_module.num_evaluations
        if self.seen_evaluations % self.every_n_evaluations:
            return
        frames = self.record_episode(pl_module)
        folder = Path(trainer.log_dir or trainer.default_root_dir) / "videos"
        write_mp4(frames, folder / f"eval-env_steps={pl_module.env_steps}.mp4", self.fps)
        # The step Lightning gives the evaluation's scalars (global_step counts optimizer steps instead).
        step = trainer.fit_loop.epoch_loop._batches_that_stepped
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                log_gif(logger, "eval/video", frames, step, self.fps)

    def record_episode(self, pl_module: L.LightningModule) -> list[np.ndarray]:
        obs, _ = self.env.reset(seed=run_seed() + VIDEO_SEED_OFFSET)
        frames = [self.env.render()[0]]
        while len(frames) < self.max_frames:
            obs, _, _, _, info = self.env.step(pl_module.evaluation_actions(obs))
            if "episode" in info and info["_episode"][0]:
                break  # a whole game is over (a lost life is not)
            frames.append(self.env.render()[0])
        return frames



def write_mp4(frames: list[np.ndarray], path: Path, fps: int) -> None:
    """Write RGB frames as an MPEG-4 video, to a temporary name first and then renamed into place."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    temporary = path.with_name(f".{path.stem}.tmp.mp4")
    writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    os.replace(temporary, path)


def log_gif(logger: TensorBoardLogger, tag: str, frames: list[np.ndarray], step: int, fps: int) -> None:
    """Log frames as an animated GIF image summary (TensorBoard's Images tab plays it)."""
    from PIL import Image
    from tensorboard.compat.proto.summary_pb2 import Summary

    stride = max(1, -(-len(frames) // MAX_GIF_FRAMES))
    images = [Image.fromarray(frame) for frame in frames[::stride]]
    buffer = io.BytesIO()
    images[0].save(
        buffer, format="GIF", save_all=True, append_images=images[1:], duration=1000 * stride // fps, loop=0
    )
    height, width = frames[0].shape[:2]
    image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=buffer.getvalue())
    logger.experiment.file_writer.add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)
