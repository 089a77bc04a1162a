"""Pong from pixels: env-steps/s of the whole training loop, lit_rl against Stable-Baselines3.

A fixed short run per (algorithm, framework), timed only after a warm-up, no evaluation:

- DQN: ``configs/dqn_pong.yaml`` with ``buffer_size`` 50,000 and ``learning_starts`` 5,000 (random
  actions, not timed), then ``--dqn-train-env-steps`` env steps of training are timed (acting with
  epsilon-greedy, storing, one gradient step per 4 env steps on batches of 32, target copies).
  ``total_env_steps`` is warm-up + timed steps, so epsilon (exploration_fraction 0.1) is at its
  final 0.01 before the timed phase in both frameworks: every step runs a forward pass.
- PPO: ``configs/ppo_pong.yaml`` with CleanRL's classic Atari settings (8 envs x 128 steps, 4 epochs x 4
  minibatches of 256, clip 0.1: ``TIMED_SETTINGS``), the work per env step of the baseline commit's config
  (the config now ships CleanRL's tuned EnvPool values, with 25% fewer updates per env step); the first
  ``--ppo-warmup-rollouts`` rollouts (collection + updates) are not timed, the next
  ``--ppo-rollouts`` are (collection + updates).

SB3 gets the same settings: ``make_atari_env("PongNoFrameskip-v4", n_envs)`` (noop 30, frame skip 4
with max-pool, 84x84 grayscale, life loss terminal, reward clipping) + ``VecFrameStack(4)``, same
n_envs, batch, train frequency, buffer, learning rate, target interval, PPO coefficients. Design
differences that are part of what is measured: lit_rl steps the games in ale-py's native C++ vector
env (threads) and stores each frame once (FrameReplayBuffer); SB3 steps them one by one in Python
(DummyVecEnv) and stores whole stacks for obs and next_obs. lit_rl runs as a user runs it (Lightning
Trainer, TensorBoard logger); checkpointing and validation are off in both.

Every run is a fresh Python process with its own thread settings (``--runs``); ``baseline`` runs an older
lit_rl from its own source tree and configs, so one invocation compares two commits and SB3 on the same
machine in the same hour:

    git worktree add /tmp/lit_rl_base 36c5ed6
    python benchmarks/pong_throughput_vs_sb3.py --repeats 3 --baseline /tmp/lit_rl_base \
        --runs lit_rl baseline:1 baseline:default sb3:1 sb3:default     # ~25 minutes on 2 CPU cores
    python benchmarks/pong_throughput_vs_sb3.py --algos ppo --runs lit_rl --repeats 2
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
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
    MATCHED_TO_SB3,
    RESULTS,
    ROOT,
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


# Settings every run of an algorithm gets, whatever its config says: the same work per env step in each
# framework and commit. PPO: CleanRL's classic Atari values, which the baseline commit's ppo_pong.yaml had.
TIMED_SETTINGS: dict[str, dict[str, Any]] = {
    "dqn": {},
    "ppo": {"num_envs": 8, "num_steps": 128, "update_epochs": 4, "num_minibatches": 4, "clip_coef": 0.1},
}


def model_args(algo: str) -> dict[str, Any]:
    return {**yaml.safe_load(CONFIG_FILES[algo].read_text())["model"]["init_args"], **TIMED_SETTINGS[algo]}


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
        # Runs before the module's RolloutCollector collects the next rollout (at the next epoch's start).
        if trainer.current_epoch + 1 == self.warmup_epochs:
            self.mark(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seconds = time.perf_counter() - self.start[0]
        self.cpu_seconds = time.process_time() - self.start[3]
        self.env_steps = pl_module.env_steps - self.start[1]
        self.gradient_steps = trainer.global_step - self.start[2]


# What the lit_rl variants of --runs change in this tree's config.
VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "lit_rl": {},
    "lit_rl_matched": MATCHED_TO_SB3,
    "lit_rl_overlap": {"ppo": {"overlap_env_steps": True}},
}


def run_lit_rl(algo: str, seed: int, args: argparse.Namespace, root: str, variant: str = "lit_rl") -> dict[str, Any]:
    a = model_args(algo)
    if algo == "dqn":
        overrides = {"buffer_size": BUFFER_SIZE, "learning_starts": LEARNING_STARTS,
                     "total_env_steps": LEARNING_STARTS + args.dqn_train_env_steps}  # fmt: skip
        warmup_epochs = 0
    else:
        rollout = a["num_envs"] * a["num_steps"]
        overrides = {"total_env_steps": (args.ppo_warmup_rollouts + args.ppo_rollouts) * rollout}
        warmup_epochs = args.ppo_warmup_rollouts
    overrides.update(TIMED_SETTINGS[algo])
    overrides.update({name: value for name, value in NO_IO.items() if name in a})
    overrides.update(VARIANTS.get(variant, {}).get(algo, {}))
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
    import ale_py
    import gymnasium
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    gymnasium.register_envs(ale_py)  # the NoFrameskip-v4 ids
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


RUN_SPECS_HELP = """runs as FRAMEWORK[:THREADS]: FRAMEWORK is lit_rl (this tree), lit_rl_matched (this tree
running SB3's algorithm: DQN without the Double-DQN target), lit_rl_overlap (this tree, PPO only, with
overlap_env_steps: half the envs step while the policy acts for the other half), baseline (the tree given by
--baseline, e.g. a git worktree of an older commit) or sb3; THREADS is 1 (OMP_NUM_THREADS=1 and one torch
thread) or default (nothing set: torch's default, and this tree's lit_rl chooses its own)"""


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One run in this (fresh) process: ``spec`` from the parent's ``run_in_subprocess``."""
    if spec["tree"]:  # an older lit_rl: its package and configs, before anything imports lit_rl
        sys.path.insert(0, spec["tree"])
    quiet()
    if spec["threads"] == "1":
        torch.set_num_threads(1)
    import lit_rl

    assert Path(lit_rl.__file__).resolve().is_relative_to(Path(spec["tree"] or ROOT).resolve()), lit_rl.__file__
    CONFIG_FILES.update({algo: Path(path) for algo, path in spec["configs"].items()})
    args = argparse.Namespace(**spec["args"])
    with tempfile.TemporaryDirectory(prefix="lit_rl_bench_") as root:
        if spec["framework"] == "sb3":
            result = run_sb3(spec["algo"], spec["seed"], args)
        else:
            result = run_lit_rl(spec["algo"], spec["seed"], args, root, variant=spec["framework"])
    return {**result, "torch_threads": torch.get_num_threads()}


def run_in_subprocess(spec: dict[str, Any]) -> dict[str, Any]:
    """``run_child(spec)`` in a fresh Python: threads are set before torch starts, packages load anew."""
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if spec["threads"] == "1":
        env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env, capture_output=True,
                          text=True)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"run {spec} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["dqn", "ppo"], choices=["dqn", "ppo"])
    parser.add_argument("--runs", nargs="+", default=["lit_rl", "sb3:default"], help=RUN_SPECS_HELP)
    parser.add_argument("--baseline", type=Path, default=None, help="source tree of the lit_rl to compare with")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved repeats (seeds 1, 2, ...)")
    parser.add_argument("--dqn-train-env-steps", type=int, default=2_000)
    parser.add_argument("--ppo-warmup-rollouts", type=int, default=1)
    parser.add_argument("--ppo-rollouts", type=int, default=4)
    parser.add_argument("--out", type=Path, default=RESULTS / "pong_throughput_vs_sb3.json")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        default=None,
        help="no runs: print the table of these JSON files (merged into --out)",
    )
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(run_child(json.loads(args.child))), flush=True)
        return
    if args.report:
        payload = merge_reports(args.report, args.out)
        print(table(payload))
        return
    runs = [(spec.partition(":")[0], spec.partition(":")[2] or "default") for spec in args.runs]
    for framework, threads in runs:
        if framework not in FRAMEWORK_NAMES or threads not in ("1", "default"):
            raise SystemExit(f"--runs {framework}:{threads} is invalid: {RUN_SPECS_HELP}")
        if framework == "lit_rl_overlap" and "dqn" in args.algos:
            raise SystemExit("--runs lit_rl_overlap is PPO's option: use it with --algos ppo")
        if framework == "baseline" and args.baseline is None:
            raise SystemExit("--runs baseline needs --baseline PATH (e.g. git worktree add /tmp/base 36c5ed6)")
    # Configs are read once, at the start (the working tree is shared): each tree's own.
    config_folder = Path(tempfile.mkdtemp(prefix="lit_rl_bench_configs_"))
    trees = {"lit_rl": ROOT, "lit_rl_matched": ROOT, "lit_rl_overlap": ROOT, "sb3": ROOT}
    if args.baseline:
        trees["baseline"] = args.baseline.resolve()
    configs = {}
    for framework, tree in trees.items():
        (config_folder / framework).mkdir()
        folder = config_folder / framework
        configs[framework] = {
            algo: str(snapshot_config(tree / "configs" / f"{algo}_pong.yaml", folder)) for algo in args.algos
        }
    payload = {
        "benchmark": "pong_throughput_vs_sb3",
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items() if k != "child"},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": [],
    }
    import ale_py

    payload["machine"]["ale_py"] = ale_py.__version__
    payload["configs"] = {f"{framework}/{algo}": Path(path).read_text()
                          for framework, paths in configs.items() for algo, path in paths.items()}  # fmt: skip
    if args.baseline:
        commit = subprocess.run(["git", "-C", str(args.baseline), "rev-parse", "HEAD"], capture_output=True, text=True)
        payload["baseline_commit"] = commit.stdout.strip()
    child_args = {name: getattr(args, name) for name in ("dqn_train_env_steps", "ppo_warmup_rollouts", "ppo_rollouts")}
    for algo in args.algos:
        for repeat in range(1, args.repeats + 1):
            for framework, threads in runs:  # interleaved
                spec = {"framework": framework, "threads": threads, "algo": algo, "seed": repeat, "args": child_args,
                        "tree": str(args.baseline.resolve()) if framework == "baseline" else None,
                        "configs": configs[framework]}  # fmt: skip
                result = {"framework": framework, "threads": threads, "algo": algo, "seed": repeat,
                          **run_in_subprocess(spec)}  # fmt: skip
                payload["runs"].append(result)
                write_json(args.out, payload)
                print(result, flush=True)
    print()
    print(table(payload))


FRAMEWORK_NAMES = {
    "lit_rl": "lit_rl (this commit)",
    "lit_rl_matched": "lit_rl (this commit), SB3's algorithm",
    "lit_rl_overlap": "lit_rl (this commit), overlap_env_steps",
    "baseline": "lit_rl (baseline commit)",
    "sb3": "SB3",
}


def table(payload: dict[str, Any]) -> str:
    runs = payload["runs"]
    algos = [a for a in ("dqn", "ppo") if any(r["algo"] == a for r in runs)]
    a = payload["args"]  # as strings
    baseline = f" Baseline: commit {payload['baseline_commit'][:7]}." if payload.get("baseline_commit") else ""
    lines = [
        f"Pong ({ENV_ID}), env-steps/s of the whole training loop after warm-up, no evaluation. DQN: "
        f"{int(a['dqn_train_env_steps']):,} env steps timed after {LEARNING_STARTS:,} random ones, buffer "
        f"{BUFFER_SIZE:,}, 4 envs, batch 32. PPO: {a['ppo_rollouts']} rollouts of 8 envs x 128 steps timed after "
        f"{a['ppo_warmup_rollouts']}, 4 epochs x 4 minibatches of 256. {a['repeats']} repeat(s), interleaved, each "
        "run in a fresh process: median (min–max). Threads: `1` is OMP_NUM_THREADS=1 and one torch thread; "
        "`default` sets nothing (torch's default; this commit's lit_rl chooses its own threads and, with the "
        "configs' auto_cpu_precision, bf16 on CPUs with native bf16). CPU seconds count all threads of the "
        f"process.{baseline}",
        "",
        "| algorithm | run | threads | env-steps/s (wall) | this commit / run (wall) "
        "| this commit with SB3's algorithm / run (wall) | env-steps per CPU-second |",
        "|---|---|---|---|---|---|---|",
    ]

    def label(run: dict[str, Any]) -> tuple[str, str]:
        return run["framework"], run.get("threads", "1")  # runs before --runs existed had one thread

    def ratio_to(numerators: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
        """Median (min-max) over seeds of numerator env-steps/s over the row's (each run is seed-paired)."""
        pairs = [(n, r) for r in rows for n in numerators if n["seed"] == r["seed"]]
        if not pairs:
            return "—"
        return spread([n["env_steps_per_sec"] / r["env_steps_per_sec"] for n, r in pairs], "{:.2f}") + "×"

    for algo in algos:
        ours = [r for r in runs if r["algo"] == algo and r["framework"] == "lit_rl"]
        matched = [r for r in runs if r["algo"] == algo and r["framework"] == "lit_rl_matched"]
        for framework, threads in dict.fromkeys(label(r) for r in runs if r["algo"] == algo):
            rows = [r for r in runs if r["algo"] == algo and label(r) == (framework, threads)]
            ratio = "—" if framework == "lit_rl" else ratio_to(ours, rows)
            matched_ratio = ratio_to(matched, rows) if framework == "sb3" else "—"
            used = "/".join(map(str, sorted({r.get("torch_threads", 1) for r in rows})))
            lines.append(f"| {algo.upper()} | {FRAMEWORK_NAMES[framework]} | {threads} ({used} torch) "
                         f"| {spread([r['env_steps_per_sec'] for r in rows])} | {ratio} | {matched_ratio} "
                         f"| {spread([r['env_steps_per_cpu_sec'] for r in rows])} |")  # fmt: skip
    lines += ["", machine_line(payload["machine"]) + f", ale-py {payload['machine']['ale_py']}"]
    return "\n".join(lines)


if __name__ == "__main__":
    main_benchmark()
