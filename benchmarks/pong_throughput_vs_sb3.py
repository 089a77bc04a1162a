"""Pong from pixels: env-steps/s of the whole training loop, lit_rl against Stable-Baselines3.

A fixed short run per (algorithm, framework), timed only after a warm-up, no evaluation:

- DQN: ``configs/dqn_pong.yaml`` with ``buffer_size`` 50,000 and ``learning_starts`` 5,000 (random
  actions, not timed), then ``--dqn-train-env-steps`` env steps of training are timed (acting with
  epsilon-greedy, storing, one gradient step per 4 env steps on batches of 32, target copies).
  ``total_env_steps`` is warm-up + timed steps, so epsilon (exploration_fraction 0.1) is at its
  final 0.01 before the timed phase in both frameworks: every step runs a forward pass.
- PPO: ``configs/ppo_pong.yaml`` (8 envs x 128 steps, 4 epochs x 4 minibatches of 256); the first
  ``--ppo-warmup-rollouts`` rollouts (collection + updates) are not timed, the next
  ``--ppo-rollouts`` are (collection + updates).

SB3 gets the same settings: ``make_atari_env("PongNoFrameskip-v4", n_envs)`` (noop 30, frame skip 4
with max-pool, 84x84 grayscale, life loss terminal, reward clipping) + ``VecFrameStack(4)``, same
n_envs, batch, train frequency, buffer, learning rate, target interval, PPO coefficients. Design
differences that are part of what is measured: lit_rl steps the games in ale-py's native C++ vector
env (threads) and stores each frame once (FrameReplayBuffer); SB3 steps them one by one in Python
(DummyVecEnv) and stores whole stacks for obs and next_obs. lit_rl runs as a user runs it (Lightning
Trainer, TensorBoard logger); checkpointing and validation are off in both.

    python benchmarks/pong_throughput_vs_sb3.py --repeats 2     # ~1-2 minutes per run on 2 busy CPU cores
    python benchmarks/pong_throughput_vs_sb3.py --algos ppo --frameworks lit_rl --repeats 2
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    CONFIGS,
    RESULTS,
    lit_rl_cli,
    machine,
    machine_line,
    merge_reports,
    optimizer_from_config,
    quiet,
    snapshot_config,
    spread,
    write_json,
)

ENV_ID = "PongNoFrameskip-v4"
BUFFER_SIZE = 50_000
LEARNING_STARTS = 5_000


CONFIG_FILES = {algo: CONFIGS / f"{algo}_pong.yaml" for algo in ("dqn", "ppo")}  # snapshots once main() runs
# Features that do I/O outside the timed loop: off in both frameworks (SB3 has neither).
NO_IO = {"record_video": False, "save_replay_buffer": False}


def model_args(algo: str) -> dict[str, Any]:
    return yaml.safe_load(CONFIG_FILES[algo].read_text())["model"]["init_args"]


# ---------------------------------------------------------------------------------------- lit_rl
class TrainingClock(L.Callback):
    """Starts after ``warmup_epochs`` training epochs (DQN: 0, the warm-up is in on_fit_start)."""

    def __init__(self, warmup_epochs: int) -> None:
        self.warmup_epochs = warmup_epochs
        self.start: tuple[float, int, int] | None = None

    def mark(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = (time.perf_counter(), pl_module.env_steps, trainer.global_step, time.process_time())

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.warmup_epochs == 0:
            self.mark(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Runs before the module's RolloutCollector collects the next rollout (Lightning calls the
        # Trainer's callbacks before the module's own).
        if trainer.current_epoch + 1 == self.warmup_epochs:
            self.mark(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seconds = time.perf_counter() - self.start[0]
        self.cpu_seconds = time.process_time() - self.start[3]
        self.env_steps = pl_module.env_steps - self.start[1]
        self.gradient_steps = trainer.global_step - self.start[2]


def run_lit_rl(algo: str, seed: int, args: argparse.Namespace, root: str) -> dict[str, Any]:
    a = model_args(algo)
    if algo == "dqn":
        overrides = {"buffer_size": BUFFER_SIZE, "learning_starts": LEARNING_STARTS,
                     "total_env_steps": LEARNING_STARTS + args.dqn_train_env_steps}  # fmt: skip
        warmup_epochs = 0
    else:
        rollout = a["num_envs"] * a["num_steps"]
        overrides = {"total_env_steps": (args.ppo_warmup_rollouts + args.ppo_rollouts) * rollout}
        warmup_epochs = args.ppo_warmup_rollouts
    overrides.update({name: value for name, value in NO_IO.items() if name in a})
    cli = lit_rl_cli(CONFIG_FILES[algo], seed, root, overrides, "--trainer.limit_val_batches", "0")
    cli.trainer.callbacks.insert(0, clock := TrainingClock(warmup_epochs))
    cli.trainer.fit(cli.model)
    return {"env_steps": clock.env_steps, "gradient_steps": clock.gradient_steps, "seconds": round(clock.seconds, 2),
            "env_steps_per_sec": round(clock.env_steps / clock.seconds, 1), "cpu_seconds": round(clock.cpu_seconds, 2),
            "env_steps_per_cpu_sec": round(clock.env_steps / clock.cpu_seconds, 1)}  # fmt: skip


# ------------------------------------------------------------------------------------------ SB3
def sb3_clock(start_when, on_rollout: bool):
    from stable_baselines3.common.callbacks import BaseCallback

    class Clock(BaseCallback):
        """Marks the time and counters once ``start_when(self)`` first holds.

        DQN: checked after each env step (training starts right after the step that passes
        learning_starts). PPO: checked at the start of a rollout only, i.e. after the updates on the
        previous one (at the last env step of the warm-up rollout its updates have not run yet).
        """

        start: tuple[float, int, int] | None = None

        def _mark(self) -> None:
            if self.start is None and start_when(self):
                self.start = (time.perf_counter(), self.num_timesteps, self.model._n_updates, time.process_time())

        def _on_step(self) -> bool:
            if not on_rollout:
                self._mark()
            return True

        def _on_rollout_start(self) -> None:
            if on_rollout:
                self._mark()

    return Clock()


def run_sb3(algo: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    a = model_args(algo)
    optimizer, optimizer_kwargs = optimizer_from_config(a)  # the config's optimizer and arguments, for both
    env = VecFrameStack(make_atari_env(ENV_ID, n_envs=a["num_envs"], seed=seed), n_stack=4)
    if algo == "dqn":
        total = LEARNING_STARTS + args.dqn_train_env_steps
        # lit_rl's target_update_interval counts gradient steps; SB3's counts env steps.
        env_steps_per_gradient_step = a["num_envs"] * a["train_frequency"] / a["gradient_steps"]
        model = DQN(
            "CnnPolicy", env, seed=seed, device="cpu", verbose=0,
            learning_rate=a["learning_rate"], buffer_size=BUFFER_SIZE, learning_starts=LEARNING_STARTS,
            batch_size=a["batch_size"], tau=a["tau"], gamma=a["gamma"], train_freq=(a["train_frequency"], "step"),
            gradient_steps=a["gradient_steps"],
            target_update_interval=round(a["target_update_interval"] * env_steps_per_gradient_step),
            exploration_fraction=a["exploration_fraction"], exploration_initial_eps=a["start_e"],
            exploration_final_eps=a["end_e"],
            # SB3 always clips the gradient norm (default 10); lit_rl's Pong config does not clip.
            replay_buffer_kwargs=dict(handle_timeout_termination=True),
            policy_kwargs=dict(optimizer_class=optimizer, optimizer_kwargs=optimizer_kwargs),
        )  # fmt: skip
        clock = sb3_clock(lambda cb: cb.num_timesteps > LEARNING_STARTS, on_rollout=False)
    else:
        rollout = a["num_envs"] * a["num_steps"]
        total = (args.ppo_warmup_rollouts + args.ppo_rollouts) * rollout
        lr = a["learning_rate"]
        model = PPO(
            "CnnPolicy", env, seed=seed, device="cpu", verbose=0,
            learning_rate=(lambda p: lr * p) if a["anneal_lr"] else lr, n_steps=a["num_steps"],
            batch_size=rollout // a["num_minibatches"], n_epochs=a["update_epochs"], gamma=a["gamma"],
            gae_lambda=a["gae_lambda"], clip_range=a["clip_coef"],
            clip_range_vf=a["clip_coef"] if a["clip_vloss"] else None, normalize_advantage=a["norm_adv"],
            ent_coef=a["ent_coef"], vf_coef=a["vf_coef"], max_grad_norm=a["max_grad_norm"],
            policy_kwargs=dict(optimizer_class=optimizer, optimizer_kwargs=optimizer_kwargs),
        )  # fmt: skip
        warmup_steps = args.ppo_warmup_rollouts * rollout
        clock = sb3_clock(lambda cb: cb.num_timesteps >= warmup_steps, on_rollout=True)
    model.learn(total_timesteps=total, callback=clock)
    seconds, cpu_seconds = time.perf_counter() - clock.start[0], time.process_time() - clock.start[3]
    env_steps = model.num_timesteps - clock.start[1]
    result = {"env_steps": env_steps, "gradient_steps": model._n_updates - clock.start[2], "seconds": round(seconds, 2),
              "env_steps_per_sec": round(env_steps / seconds, 1), "cpu_seconds": round(cpu_seconds, 2),
              "env_steps_per_cpu_sec": round(env_steps / cpu_seconds, 1)}  # fmt: skip
    if algo == "ppo":  # SB3 counts PPO epochs in _n_updates; report minibatch gradient steps
        result["gradient_steps"] *= a["num_minibatches"]
    env.close()
    del model
    gc.collect()
    return result


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["dqn", "ppo"], choices=["dqn", "ppo"])
    parser.add_argument("--frameworks", nargs="+", default=["lit_rl", "sb3"], choices=["lit_rl", "sb3"])
    parser.add_argument("--repeats", type=int, default=1, help="interleaved repeats (seeds 1, 2, ...)")
    parser.add_argument("--dqn-train-env-steps", type=int, default=2_000)
    parser.add_argument("--ppo-warmup-rollouts", type=int, default=1)
    parser.add_argument("--ppo-rollouts", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS / "pong_throughput_vs_sb3.json")
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        default=None,
        help="no runs: print the table of these JSON files (merged into --out)",
    )
    args = parser.parse_args()
    if args.report:
        payload = merge_reports(args.report, args.out)
        print(table(payload))
        return
    quiet()
    torch.set_num_threads(1)
    import lit_rl.algorithms.dqn  # noqa: F401  import the package once, at the start: see snapshot_config
    import lit_rl.algorithms.on_policy  # noqa: F401

    config_folder = tempfile.mkdtemp(prefix="lit_rl_bench_configs_")
    for algo in args.algos:
        CONFIG_FILES[algo] = snapshot_config(CONFIG_FILES[algo].name, config_folder)
    payload = {
        "benchmark": "pong_throughput_vs_sb3",
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": [],
    }
    import ale_py

    payload["machine"]["ale_py"] = ale_py.__version__
    payload["configs"] = {algo: CONFIG_FILES[algo].read_text() for algo in args.algos}
    with tempfile.TemporaryDirectory(prefix="lit_rl_bench_") as root:
        for algo in args.algos:
            for repeat in range(1, args.repeats + 1):
                for framework in args.frameworks:  # interleaved
                    if framework == "lit_rl":
                        result = run_lit_rl(algo, repeat, args, root)
                    else:
                        result = run_sb3(algo, repeat, args)
                    result = {"framework": framework, "algo": algo, "seed": repeat, **result}
                    payload["runs"].append(result)
                    write_json(args.out, payload)
                    print(result, flush=True)
    print()
    print(table(payload))


def table(payload: dict[str, Any]) -> str:
    runs = payload["runs"]
    algos = [a for a in ("dqn", "ppo") if any(r["algo"] == a for r in runs)]
    a = payload["args"]  # as strings
    lines = [
        f"Pong ({ENV_ID}), env-steps/s of the whole training loop after warm-up, no evaluation. DQN: "
        f"{int(a['dqn_train_env_steps']):,} env steps timed after {LEARNING_STARTS:,} random ones, buffer "
        f"{BUFFER_SIZE:,}, 4 envs, batch 32. PPO: {a['ppo_rollouts']} rollouts of 8 envs x 128 steps timed after "
        f"{a['ppo_warmup_rollouts']}, 4 epochs x 4 minibatches of 256. {a['repeats']} repeat(s): median (min–max). "
        "CPU seconds count all threads of the process (ale-py's native env steps games in C++ threads).",
        "",
        "| algorithm | framework | env-steps/s (wall) | lit_rl / SB3 (wall) | env-steps per CPU-second "
        "| lit_rl / SB3 (CPU) |",
        "|---|---|---|---|---|---|",
    ]
    for algo in algos:
        for framework in ("lit_rl", "sb3"):
            rows = [r for r in runs if r["algo"] == algo and r["framework"] == framework]
            if not rows:
                continue
            cells = []
            for key in ("env_steps_per_sec", "env_steps_per_cpu_sec"):
                ratio = "—"
                sb3 = [s for s in runs if s["algo"] == algo and s["framework"] == "sb3"]
                pairs = [(r, s) for r in rows for s in sb3 if framework == "lit_rl" and s["seed"] == r["seed"]]
                if pairs:
                    ratio = spread([r[key] / s[key] for r, s in pairs], "{:.2f}") + "×"
                cells += [spread([r[key] for r in rows]), ratio]
            name = "lit_rl" if framework == "lit_rl" else "SB3"
            lines.append(f"| {algo.upper()} | {name} | {' | '.join(cells)} |")
    lines += ["", machine_line(payload["machine"]) + f", ale-py {payload['machine']['ale_py']}"]
    return "\n".join(lines)


if __name__ == "__main__":
    main_benchmark()
