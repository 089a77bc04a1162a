"""Atari Pong throughput: the env alone, acting + storing, full DQN training; replay bytes per transition.

Not a test: run it by hand and paste the table it prints into the README.

    python benchmarks/atari_throughput.py                     # configs/dqn_pong.yaml, ~3 minutes on 2 CPU cores
    python benchmarks/atari_throughput.py --train-env-steps 20000   # longer, steadier training number
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import ale_py
import lightning as L
import numpy as np
import torch

from lit_rl.cli import main
from lit_rl.envs import make_vector_env
from lit_rl.frame_replay_buffer import FrameReplayBuffer

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "dqn_pong.yaml"


class TrainingClock(L.Callback):
    """Env steps and seconds between the first and the last gradient step (the warm-up excluded)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = (time.perf_counter(), pl_module.env_steps, trainer.global_step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seconds = time.perf_counter() - self.start[0]
        self.env_steps = pl_module.env_steps - self.start[1]
        self.gradient_steps = trainer.global_step - self.start[2]
        self.seconds = seconds


def env_alone(env_id: str, num_envs: int, env_kwargs: dict, seconds: float) -> float:
    env = make_vector_env(env_id, num_envs, env_kwargs)
    env.reset(seed=0)
    rng, n, steps = np.random.default_rng(0), env.single_action_space.n, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(rng.integers(n, size=num_envs))
        steps += num_envs
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def fit_cli(args: argparse.Namespace, learning_starts: int, total_env_steps: int, root: str):
    # No checkpoints: with save_replay_buffer, each one writes the whole 1M-transition ring (7.1 GB), and
    # the fit's last one would land inside the timed window of (c).
    cli = main([
        "--config", str(CONFIG), "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
        "--trainer.limit_val_batches", "0", "--trainer.callbacks", "[]", "--trainer.enable_checkpointing", "false",
        "--model.save_replay_buffer", "false", "--model.record_video", "false",
        "--trainer.default_root_dir", root,
        "--model.learning_starts", str(learning_starts), "--model.total_env_steps", str(total_env_steps),
        "--model.buffer_size", str(args.buffer_size),
    ], run=False)  # fmt: skip
    cli.trainer.callbacks.append(clock := TrainingClock())
    cli.trainer.fit(cli.model)
    return cli.model, clock


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of (a) and (b)")
    parser.add_argument("--warmup-env-steps", type=int, default=8000, help="random steps before (c)")
    parser.add_argument("--train-env-steps", type=int, default=2000, help="env steps of training in (c)")
    parser.add_argument("--buffer-size", type=int, default=1_000_000, help="replay capacity, as in the config")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.torch_threads:
        os.environ["OMP_NUM_THREADS"] = str(args.torch_threads)  # lit_rl's CpuThreads follows it
        torch.set_num_threads(args.torch_threads)
    root = "/tmp/lit_rl_atari_throughput"

    # (b) and the replay numbers: only the random warm-up of the config's DQN (learning_starts steps).
    model, clock = fit_cli(args, args.warmup_env_steps, args.warmup_env_steps + 40, root)
    hp, buffer = model.hparams, model.replay_buffer
    rate_a = env_alone(hp.env_id, hp.num_envs, hp.env_kwargs, args.seconds)
    collector = next(c for c in model.trainer.callbacks if type(c).__name__ == "ReplayCollector")
    collector.setup(model.trainer, model, "fit")
    steps, start = model.env_steps, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        collector.step(model, epsilon=1.0)
    rate_b = (model.env_steps - steps) / (time.perf_counter() - start)
    collector.teardown(model.trainer, model, "fit")
    start = time.perf_counter()
    for _ in range(200):
        buffer.sample(hp.batch_size)
    sample_ms = (time.perf_counter() - start) / 200 * 1e3

    # (c) the full loop: warm-up, then time train_env_steps of acting, storing, sampling and learning.
    model, clock = fit_cli(args, args.warmup_env_steps, args.warmup_env_steps + args.train_env_steps, root)
    rate_c = clock.env_steps / clock.seconds
    step_ms = clock.seconds / max(clock.gradient_steps, 1) * 1e3

    per_transition = buffer.nbytes / buffer.capacity
    million = FrameReplayBuffer.required_bytes(1_000_000, (buffer.stack, *buffer.frames.shape[2:]), hp.num_envs)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())  # fmt: skip
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "none (CPU training)"
    print(f"\nMachine: {cpu}, {os.cpu_count()} cores, GPU: {device}; torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), ale-py {ale_py.__version__}; {hp.env_id}, num_envs={hp.num_envs}, "
          f"batch {hp.batch_size}, one gradient step per {hp.num_envs * hp.train_frequency} env steps.\n")  # fmt: skip
    print("| measurement | result |")
    print("| --- | --- |")
    print(f"| (a) env alone, random actions ({hp.env_kwargs['backend']} vector env) | {rate_a:,.0f} env steps/s |")
    print(f"| (b) act + store in the replay (ReplayCollector.step, random actions) | {rate_b:,.0f} env steps/s |")
    print(f"| (c) full DQN training loop (`configs/dqn_pong.yaml`) | {rate_c:,.0f} env steps/s "
          f"({step_ms:.0f} ms per gradient step) |")  # fmt: skip
    print(f"| replay sample of {hp.batch_size} transitions | {sample_ms:.2f} ms |")
    print(f"| replay bytes per transition (FrameReplayBuffer) | {per_transition:,.0f} B "
          f"(1M transitions: {million / 1e9:.2f} GB; plain layout: {2 * 4 * 84 * 84 + 14:,} B, 56.5 GB) |")  # fmt: skip


if __name__ == "__main__":
    main_benchmark()
