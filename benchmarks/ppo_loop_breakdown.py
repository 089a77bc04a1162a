"""Where a lit_rl PPO rollout's time goes: env, acting, GAE, forward, backward, optimizer, Lightning.

The sibling of ``dqn_loop_breakdown.py`` for the on-policy loop. Wraps the functions that do the work
in perf_counter timers (about 1 us per call) and runs the config through ``LightningCLI`` +
``Trainer.fit`` as users run it (TensorBoard logger, no checkpoints). Each row is in milliseconds per
rollout (one Lightning epoch: ``num_steps`` vector-env steps, then ``update_epochs x num_minibatches``
minibatch updates). Evaluation and video run once at the end of the run and are reported on their own
rows, outside the per-rollout total. Threads and precision are lit_rl's own choice (``lit_rl.CpuThreads``,
the config's ``auto_cpu_precision``) unless ``OMP_NUM_THREADS`` or ``--trainer-arg`` say otherwise.

    python benchmarks/ppo_loop_breakdown.py                                   # configs/ppo_pong.yaml
    python benchmarks/ppo_loop_breakdown.py --trainer-arg=--trainer.precision=32-true
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import CONFIGS, lit_rl_cli, machine, machine_line, quiet  # noqa: E402
from dqn_loop_breakdown import SECONDS, time_calls  # noqa: E402

NETWORK_COMPUTE = ("act: policy forward", "bootstrap value forward", "forward and loss (compute_loss)",
                   "autograd backward", "optimizer step", "gradient clipping")  # fmt: skip


def instrument() -> None:
    from lightning.pytorch.core.optimizer import LightningOptimizer
    from lightning.pytorch.loops.fit_loop import _FitLoop
    from lightning.pytorch.plugins.precision import Precision

    from lit_rl.algorithms import common, on_policy
    from lit_rl.callbacks.evaluation_video import EvaluationVideo
    from lit_rl.callbacks.rollout_collector import RolloutCollector
    from lit_rl.networks.actor_critic import ActorCritic
    from lit_rl.rollout_buffer import RolloutBuffer

    time_calls(_FitLoop, "run", "fit loop")  # every epoch: the updates, validation, the next collection
    time_calls(RolloutCollector, "on_fit_start", "first collection")
    time_calls(RolloutCollector, "collect", "collect")
    time_calls(on_policy.OnPolicyModule, "act", "act: policy forward")
    time_calls(RolloutBuffer, "add", "rollout buffer add")
    time_calls(ActorCritic, "value", "bootstrap value forward")
    time_calls(RolloutBuffer, "compute_returns", "GAE")
    time_calls(on_policy.OnPolicyModule, "training_step", "training_step")
    time_calls(on_policy.OnPolicyModule, "manual_backward", "manual_backward")
    time_calls(on_policy.OnPolicyModule, "backward", "autograd backward")
    time_calls(LightningOptimizer, "step", "LightningOptimizer.step")
    time_calls(Precision, "_wrap_closure", "closure")
    time_calls(on_policy.OnPolicyModule, "on_before_optimizer_step", "gradient clipping")
    time_calls(torch.optim.Adam, "step", "optimizer step (inclusive)")
    time_calls(common, "evaluate_episodes", "evaluation")
    time_calls(EvaluationVideo, "on_validation_end", "video")


def breakdown(rollouts: int) -> list[tuple[str, float]]:
    ms = {label: seconds * 1e3 / rollouts for label, seconds in SECONDS.items()}
    optimizer = ms["optimizer step (inclusive)"] - ms["closure"]
    collect = ms["collect"]
    loop = ms["fit loop"] + ms["first collection"] - ms.get("evaluation", 0.0) - ms.get("video", 0.0)
    work = [
        ("env step (ale-py's C++ threads, Python waits)", ms["env step"]),
        ("act: policy forward", ms["act: policy forward"]),
        ("rollout buffer add", ms["rollout buffer add"]),
        ("bootstrap value forward", ms.get("bootstrap value forward", 0.0)),
        ("GAE", ms["GAE"]),
        ("rest of collection (episode statistics, loop)",
         collect - ms["env step"] - ms["act: policy forward"] - ms["rollout buffer add"] - ms["GAE"]
         - ms.get("bootstrap value forward", 0.0)),
        ("forward and loss (compute_loss)", ms["forward and loss (compute_loss)"]),
        ("autograd backward", ms["autograd backward"]),
        ("optimizer step", optimizer),
        ("gradient clipping", ms["gradient clipping"]),
        ("rest of training_step (shuffle, minibatch gather, logging)",
         ms["training_step"] - ms["forward and loss (compute_loss)"] - ms["manual_backward"]
         - ms["LightningOptimizer.step"]),
    ]  # fmt: skip
    lightning = [
        ("Lightning around backward and optimizer steps",
         ms["manual_backward"] - ms["autograd backward"] + ms["LightningOptimizer.step"] - optimizer
         - ms["gradient clipping"]),
        ("Lightning per epoch (fetch, hooks, logger, validation loop)",
         loop - ms["training_step"] - collect),
    ]  # fmt: skip
    compute = sum(value for name, value in work if name in NETWORK_COMPUTE)
    return [
        *work, *lightning,
        ("rollout, in all", loop),
        ("network compute (forward, backward, optimizer, clipping), in all", compute),
    ]  # fmt: skip


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=CONFIGS / "ppo_pong.yaml", help="a PPO/A2C config")
    parser.add_argument("--rollouts", type=int, default=12)
    parser.add_argument("--model-arg", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--trainer-arg", action="append", default=[], metavar="--trainer.NAME=VALUE")
    args = parser.parse_args()
    quiet()
    instrument()
    config = yaml.safe_load(args.config.read_text())["model"]
    init = config["init_args"]
    model_args = {"total_env_steps": args.rollouts * init["num_envs"] * init["num_steps"], "record_video": False,
                  "eval_interval": 10**9, "eval_episodes": 1}  # fmt: skip
    for item in args.model_arg:
        name, _, value = item.partition("=")
        model_args[name] = yaml.safe_load(value)
    with tempfile.TemporaryDirectory(prefix="lit_rl_bench_") as root:
        cli = lit_rl_cli(args.config, 1, root, model_args, *args.trainer_arg)
        cli.trainer.callbacks = [c for c in cli.trainer.callbacks if type(c).__name__ != "ModelCheckpoint"]
        # The training env exists once setup() opened it; its own step is timed, not the evaluation env's.
        from lit_rl.callbacks.rollout_collector import RolloutCollector

        original_setup = RolloutCollector.setup

        def setup_and_instrument(self, trainer, pl_module, stage):
            original_setup(self, trainer, pl_module, stage)
            if stage == "fit":
                time_calls(self.env, "step", "env step")
                time_calls(type(pl_module), "compute_loss", "forward and loss (compute_loss)")  # PPO, A2C, ...

        RolloutCollector.setup = setup_and_instrument
        start = time.perf_counter()
        cli.trainer.fit(cli.model)
        seconds = time.perf_counter() - start
        rollouts = cli.trainer.current_epoch
    hp = cli.model.hparams
    steps = hp.num_envs * hp.num_steps
    print(
        f"{args.config}, {rollouts} rollouts of {steps:,} env steps ({hp.num_envs} envs x {hp.num_steps}), "
        f"{hp.update_epochs} x {hp.num_minibatches} minibatch updates each; torch threads "
        f"{torch.get_num_threads()}, precision {cli.trainer.precision}; inclusive timers, ms per rollout.\n"
    )
    print("| | ms per rollout | share |\n|---|---|---|")
    rows = breakdown(rollouts)
    total = rows[-2][1]
    for what, value in rows:
        print(f"| {what} | {value:.1f} | {value / total:.0%} |")
    print(f"\nwhole loop: {rollouts * steps / (seconds):,.0f} env steps/s including start-up and the final evaluation")
    print(f"loop alone: {steps / total * 1e3:,.0f} env steps/s")
    for label in ("evaluation", "video"):
        if label in SECONDS:
            print(f"{label}: {SECONDS[label]:.1f} s in all (outside the rollout rows)")
    print(f"\n{machine_line(machine())}")


if __name__ == "__main__":
    main_benchmark()
