"""Where a lit_rl DQN round's time goes: the work itself, and Lightning's machinery around it.

Wraps the functions that do the work (env stepping and storing, sampling, the forward passes,
autograd's backward, Adam, gradient clipping) and Lightning's wrappers around them in perf_counter
timers (about 1 us per call), then runs the config's DQN through ``LightningCLI`` + ``Trainer.fit``
as ``dqn_plain_pytorch.py`` does (no checkpoints, no evaluation, TensorBoard logger). Sampling
profilers are a poor fit here: py-spy's samples are distorted on a shared VM and cProfile slows
every small call several-fold. Each row is in milliseconds per round (one Lightning batch:
``train_frequency`` vector-env steps and ``gradient_steps`` gradient steps).

    python benchmarks/dqn_loop_breakdown.py                                  # configs/dqn_cartpole.yaml
    python benchmarks/dqn_loop_breakdown.py --config configs/dqn_pong.yaml --env-steps 9000 \\
        --model-arg buffer_size=50000 --model-arg learning_starts=5000
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import CONFIGS, lit_rl_cli, machine, machine_line, quiet, set_torch_threads  # noqa: E402

SECONDS: collections.Counter[str] = collections.Counter()


def time_calls(owner: Any, name: str, label: str) -> None:
    """Replace ``owner.name`` with a wrapper that adds each call's duration to ``SECONDS[label]``."""
    function = getattr(owner, name)

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            SECONDS[label] += time.perf_counter() - start

    setattr(owner, name, timed)


def instrument() -> None:
    from lightning.pytorch.core.optimizer import LightningOptimizer
    from lightning.pytorch.loops.training_epoch_loop import _TrainingEpochLoop
    from lightning.pytorch.plugins.precision import Precision

    from lit_rl import DQN, FrameReplayBuffer, ReplayBuffer
    from lit_rl.callbacks.replay_collector import ReplayCollector

    time_calls(_TrainingEpochLoop, "advance", "round")
    time_calls(ReplayCollector, "on_train_batch_end", "env steps: act, step, store")
    time_calls(ReplayBuffer, "sample", "replay sample")
    time_calls(FrameReplayBuffer, "sample", "replay sample")
    time_calls(DQN, "training_step", "training_step")
    time_calls(DQN, "td_loss", "td_loss")
    time_calls(DQN, "manual_backward", "manual_backward")
    time_calls(DQN, "backward", "backward")  # Lightning's hook that calls loss.backward()
    time_calls(LightningOptimizer, "step", "LightningOptimizer.step")
    time_calls(Precision, "_wrap_closure", "closure")  # runs inside the optimizer's step
    time_calls(DQN, "on_before_optimizer_step", "grad clipping")
    time_calls(torch.optim.Adam, "step", "Adam.step")


def breakdown(rounds: int) -> list[tuple[str, float]]:
    """Rows (what, ms per round), work first. The per-batch row is the rest of the round: Lightning's loop
    and lit_rl's per-batch hooks (learning-rate and epsilon schedules, episode statistics every
    ``log_every_n_steps`` batches)."""
    ms = {label: seconds * 1e3 / rounds for label, seconds in SECONDS.items()}
    if "Adam.step" not in ms:
        raise SystemExit("dqn_loop_breakdown.py times torch.optim.Adam's step; this config's optimizer is another")
    adam = ms["Adam.step"] - ms["closure"]
    work = [
        ("env steps: act, env step, store (ReplayCollector)", ms["env steps: act, step, store"]),
        ("replay sample (one gather per round)", ms["replay sample"]),
        ("online forward passes and TD loss (td_loss)", ms["td_loss"]),
        ("autograd backward", ms["backward"]),
        ("Adam", adam),
        ("gradient clipping", ms["grad clipping"]),
        (
            "rest of training_step: target forward, zero_grad, split, loss checks, logging",
            ms["training_step"] - ms["td_loss"] - ms["manual_backward"] - ms["LightningOptimizer.step"],
        ),
    ]
    around_backward = ms["manual_backward"] - ms["backward"]
    around_step = ms["LightningOptimizer.step"] - adam - ms["grad clipping"]
    per_batch = ms["round"] - ms["training_step"] - ms["env steps: act, step, store"] - ms["replay sample"]
    lightning = [
        ("Lightning around each backward (hook dispatch)", around_backward),
        ("Lightning around each optimizer step (closure, hooks, counters)", around_step),
        ("per batch: Lightning's fetch, transfer, hook dispatch and logger connector, lit_rl's hooks", per_batch),
    ]
    return [
        *work, ("work, in all", sum(value for _, value in work)),
        *lightning, ("Lightning, in all", sum(value for _, value in lightning)),
        ("round", ms["round"]),
    ]  # fmt: skip


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=CONFIGS / "dqn_cartpole.yaml", help="a DQN config")
    parser.add_argument("--env-steps", type=int, default=20_000)
    parser.add_argument("--model-arg", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--trainer-arg", action="append", default=[], metavar="--trainer.NAME=VALUE")
    parser.add_argument("--torch-threads", type=int, default=None, help="default: lit_rl's choice (CpuThreads)")
    args = parser.parse_args()
    quiet()
    set_torch_threads(args.torch_threads)
    instrument()
    model_args = {"total_env_steps": args.env_steps, "eval_interval": 10**9, "record_video": False,
                  "save_replay_buffer": False}  # fmt: skip
    for item in args.model_arg:
        name, _, value = item.partition("=")
        model_args[name] = yaml.safe_load(value)
    with tempfile.TemporaryDirectory(prefix="lit_rl_bench_") as root:
        cli = lit_rl_cli(args.config, 1, root, model_args, "--trainer.limit_val_batches", "0", *args.trainer_arg)
        cli.trainer.fit(cli.model)
        rounds = cli.trainer.fit_loop.epoch_loop._batches_that_stepped
    hp = cli.model.hparams
    print(f"{args.config}, {args.env_steps:,} env steps, {rounds:,} rounds of {hp.train_frequency * hp.num_envs} env "
          f"steps and {hp.gradient_steps} gradient steps; torch threads {torch.get_num_threads()}, precision "
          f"{cli.trainer.precision}; inclusive timers, ms per round.\n")  # fmt: skip
    print("| | ms per round | share |\n|---|---|---|")
    rows = breakdown(rounds)
    total = rows[-1][1]
    for what, value in rows:
        print(f"| {what} | {value:.3f} | {value / total:.0%} |")
    print(f"\n{machine_line(machine())}")


if __name__ == "__main__":
    main_benchmark()
