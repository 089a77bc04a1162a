"""CartPole-v1 with DQN and PPO: lit_rl against Stable-Baselines3 with matched hyperparameters.

For each (algorithm, seed, framework) it trains for the config's ``total_env_steps``, evaluates the
greedy policy every ``--eval-interval`` env steps (20 episodes, one per sub-environment, with
``lit_rl.evaluation.evaluate_episodes`` and the same episode seeds for both frameworks), and records
the env steps and training wall-clock until the greedy mean return first reaches 475, the final
evaluation, and the env-steps/s of the whole run. Runs are interleaved (lit_rl seed 1, SB3 seed 1,
lit_rl seed 2, ...) so that load on a shared machine hits both alike, or with ``--side-by-side`` each
lit_rl run starts at the same time as its own SB3 run (one process and core each), and the speed
ratio is taken within that pair.

Wall-clock excludes evaluation for BOTH frameworks: every evaluation call is timed and subtracted,
so the figures are training time only (env stepping, replay/rollout storage, gradient steps, and
whatever the framework does around them: Lightning's loops, hooks and logging for lit_rl).

The hyperparameters come from ``configs/dqn_cartpole.yaml`` and ``configs/ppo_cartpole.yaml`` (the
source of truth); ``sb3_dqn``/``sb3_ppo`` map them to SB3 arguments. Mismatches that cannot be
removed without patching SB3 are listed at those functions. Where the config uses what SB3 cannot
run (DQN: the Double-DQN target), the comparison row ``lit_rl`` runs SB3's algorithm
(``MATCHED_TO_SB3``), and ``lit_rl_config`` runs the config as shipped, for the record.

    pip install -e ".[bench]"
    python benchmarks/cartpole_vs_sb3.py --side-by-side --seeds 1 2 3 4 5   # what benchmarks/README.md shows
    python benchmarks/cartpole_vs_sb3.py                        # one run at a time, interleaved, seeds 1 2 3
    python benchmarks/cartpole_vs_sb3.py --algos dqn --seeds 1 2 3 --frameworks lit_rl sb3
    python benchmarks/cartpole_vs_sb3.py --report benchmarks/results/cartpole_vs_sb3.json   # table + PNG again
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    CONFIGS,
    MATCHED_TO_SB3,
    RESULTS,
    EvalClock,
    lit_rl_cli,
    machine,
    machine_line,
    merge_reports,
    optimizer_from_config,
    patch_evaluation,
    quiet,
    run_group,
    set_torch_threads,
    snapshot_config,
    spread,
    write_json,
)

ENV_ID = "CartPole-v1"
SOLVED = 475.0
EVAL_SEED_OFFSET = 1_000_000  # lit_rl's: evaluation episodes are seeded run_seed + 1,000,000
CONFIG_FILES = {"dqn": CONFIGS / "dqn_cartpole.yaml", "ppo": CONFIGS / "ppo_cartpole.yaml"}
OVERRIDES: dict[str, Any] = {}  # --total-env-steps (a quick smoke run); applied to both frameworks
FRAMEWORKS = {
    "lit_rl": "lit_rl",  # the config with MATCHED_TO_SB3: the speed comparison
    "sb3": "SB3",
    "lit_rl_config": "lit_rl, config as shipped (Double DQN)",  # run only where it differs from "lit_rl"
}


def framework_label(framework: str, algo: str) -> str:
    if framework == "lit_rl" and MATCHED_TO_SB3[algo]:
        return "lit_rl, matched to SB3 (no Double DQN)"
    return FRAMEWORKS[framework]


def load_config(algo: str) -> tuple[dict[str, Any], dict[str, Any]]:
    config = yaml.safe_load(CONFIG_FILES[algo].read_text())
    return {**config["model"]["init_args"], **OVERRIDES}, config.get("trainer", {})


# ---------------------------------------------------------------------------------------- lit_rl
def run_lit_rl(algo: str, seed: int, eval_interval: int, root: str, matched: bool) -> dict[str, Any]:
    from lit_rl.envs import make_vector_env
    from lit_rl.evaluation import evaluate_episodes

    overrides = {"eval_interval": eval_interval, **(MATCHED_TO_SB3[algo] if matched else {}), **OVERRIDES}
    cli = lit_rl_cli(CONFIG_FILES[algo], seed, root, overrides)  # the TensorBoard logger stays, as a user runs it
    module = cli.model
    clock = EvalClock()
    with patch_evaluation(clock.timed(evaluate_episodes, lambda: module.env_steps)):
        clock.restart()
        cli.trainer.fit(module)
        train_seconds, cpu_seconds = clock.train_seconds(), clock.train_cpu_seconds()
    if len(clock.curve) < module.env_steps // eval_interval - 1:
        raise RuntimeError(f"only {len(clock.curve)} evaluations were timed: lit_rl's evaluation path changed?")
    if not clock.curve or clock.curve[-1]["env_steps"] != module.env_steps:  # evaluate the final policy
        env = make_vector_env(ENV_ID, module.hparams.eval_episodes)
        policy = module.evaluation_actions if algo == "dqn" else module.act_greedy
        clock.timed(evaluate_episodes, lambda: module.env_steps)(policy, env, seed=seed + EVAL_SEED_OFFSET)
        env.close()
    return summarize(clock, module.env_steps, train_seconds, cpu_seconds)


# ------------------------------------------------------------------------------------------ SB3
def sb3_eval_callback(clock: EvalClock, eval_interval: int, first_eval: int, on_rollout: bool, seed: int):
    """Greedy evaluation every ``eval_interval`` env steps, with lit_rl's evaluation function and env.

    DQN: checked after every env step, at the env steps where lit_rl's epochs end
    (``learning_starts + k * eval_interval``). PPO: checked at the start of each rollout (after the
    previous rollout's updates), as lit_rl evaluates at the end of an epoch (rollout + updates).
    """
    from stable_baselines3.common.callbacks import BaseCallback

    from lit_rl.envs import make_vector_env
    from lit_rl.evaluation import evaluate_episodes

    class Evaluate(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next_eval = first_eval
            self.env = make_vector_env(ENV_ID, 20)
            self.evaluate = clock.timed(evaluate_episodes, lambda: self.num_timesteps)

        def policy(self, obs: np.ndarray) -> np.ndarray:
            return self.model.predict(obs, deterministic=True)[0]

        def maybe_evaluate(self) -> None:
            if self.num_timesteps >= self.next_eval:
                self.evaluate(self.policy, self.env, seed=seed + EVAL_SEED_OFFSET)
                self.next_eval = (self.num_timesteps - first_eval) // eval_interval * eval_interval
                self.next_eval += first_eval + eval_interval

        def _on_step(self) -> bool:
            if not on_rollout:
                self.maybe_evaluate()
            return True

        def _on_rollout_start(self) -> None:
            if on_rollout:
                self.maybe_evaluate()

        def final(self) -> None:
            if not clock.curve or clock.curve[-1]["env_steps"] != self.num_timesteps:
                self.evaluate(self.policy, self.env, seed=seed + EVAL_SEED_OFFSET)
            self.env.close()

    return Evaluate()


def sb3_dqn(env, seed: int):
    """SB3 DQN with dqn_cartpole.yaml's values.

    SB3's DQN has no Double-DQN target: it bootstraps from max_a Q_target(s', a). The comparison
    row runs lit_rl with double_dqn: false (MATCHED_TO_SB3); the config's double_dqn: true runs as
    the row "lit_rl, config as shipped", one more forward pass per gradient step.

    Unavoidable mismatches:
    - SB3 counts target_update_interval in env steps (vector steps x n_envs); lit_rl in gradient
      steps. Converted: gradient steps x train_frequency x num_envs / gradient_steps (= 10 here).
    - Autoreset: SB3's DummyVecEnv resets in the same step, lit_rl (gymnasium >= 1.0) in the next
      one, which lit_rl counts as an env step but does not store: ~1 extra env step per episode.
    - n-step returns (n_step): SB3's buffer stores one-step transitions and sums the n rewards when
      it samples; lit_rl's NStepReplayBuffer sums them when it stores. Same targets, work placed
      differently.
    - anneal_lr: SB3 sets the learning rate from its progress (env steps / total) before each
      training round; lit_rl from its env-step counter before each round (Lightning batch). Same schedule.
    Matched: Huber loss (smooth L1), the config's optimizer and its arguments (fused Adam), grad-norm
    clipping (max_grad_norm), rounds of train_frequency env steps then gradient_steps gradient steps,
    ReLU MLP with default init, linear epsilon over exploration_fraction x total env steps with
    random actions during learning_starts, truncation bootstraps (handle_timeout_termination).
    """
    from stable_baselines3 import DQN

    a, trainer = load_config("dqn")
    optimizer, optimizer_kwargs = optimizer_from_config(a)
    vector_steps_per_gradient_step = a["train_frequency"] / a["gradient_steps"]
    lr = a["learning_rate"]
    return DQN(
        "MlpPolicy", env, seed=seed, device="cpu", verbose=0,
        learning_rate=(lambda progress_remaining: lr * progress_remaining) if a.get("anneal_lr") else lr,
        n_steps=a.get("n_step", 1), buffer_size=a["buffer_size"], learning_starts=a["learning_starts"],
        batch_size=a["batch_size"], tau=a["tau"], gamma=a["gamma"],
        train_freq=(a["train_frequency"], "step"), gradient_steps=a["gradient_steps"],
        target_update_interval=round(a["target_update_interval"] * vector_steps_per_gradient_step * a["num_envs"]),
        exploration_fraction=a["exploration_fraction"], exploration_initial_eps=a["start_e"],
        exploration_final_eps=a["end_e"], max_grad_norm=a.get("max_grad_norm") or np.inf,
        policy_kwargs=dict(net_arch=list(a["hidden_sizes"]), activation_fn=torch.nn.ReLU,
                           optimizer_class=optimizer, optimizer_kwargs=optimizer_kwargs),
    )  # fmt: skip


def sb3_ppo(env, seed: int):
    """SB3 PPO with ppo_cartpole.yaml's values.

    The learning rate and clip range are annealed exactly as lit_rl anneals them: linearly to 0 at
    total_env_steps, as functions of the env steps taken BEFORE the current rollout (SB3's
    progress_remaining already counts the current rollout, so it is converted back to env steps).
    SB3 stops after the same number of rollouts as lit_rl (learn() is given the env steps of the
    whole rollouts that fit in total_env_steps).

    Unavoidable mismatches:
    - Autoreset: lit_rl's rollouts contain one masked (not trained on) row per finished episode,
      gymnasium >= 1.0 next-step autoreset; SB3's same-step autoreset has none. So lit_rl trains on
      ~1 row per episode fewer per rollout (<1% on CartPole once episodes are long).
    - Advantage normalisation: SB3 divides by the unbiased std, lit_rl by the biased one.
    Matched: separate tanh MLPs for actor and critic with orthogonal init (gains sqrt 2, 0.01, 1),
    Adam eps from the config, GAE, per-minibatch advantage normalisation, MSE value loss x vf_coef,
    global grad-norm clipping, truncation bootstrapping.
    """
    from stable_baselines3 import PPO

    a, _ = load_config("ppo")
    optimizer, optimizer_kwargs = optimizer_from_config(a)
    total, rollout = a["total_env_steps"], a["num_envs"] * a["num_steps"]
    learn_steps = total // rollout * rollout

    def annealed(start: float, anneal: bool):
        if not anneal:
            return start

        def value(progress_remaining: float) -> float:
            steps_before_rollout = max(round((1.0 - progress_remaining) * learn_steps) - rollout, 0)
            return start * (1.0 - min(steps_before_rollout / total, 1.0))

        return value

    clip = annealed(a["clip_coef"], a["anneal_clip"])
    model = PPO(
        "MlpPolicy", env, seed=seed, device="cpu", verbose=0,
        learning_rate=annealed(a["learning_rate"], a["anneal_lr"]), n_steps=a["num_steps"],
        batch_size=rollout // a["num_minibatches"], n_epochs=a["update_epochs"], gamma=a["gamma"],
        gae_lambda=a["gae_lambda"], clip_range=clip, clip_range_vf=clip if a["clip_vloss"] else None,
        normalize_advantage=a["norm_adv"], ent_coef=a["ent_coef"], vf_coef=a["vf_coef"],
        max_grad_norm=a["max_grad_norm"] if a["max_grad_norm"] is not None else np.inf,
        target_kl=a.get("target_kl"),
        policy_kwargs=dict(net_arch=dict(pi=list(a["hidden_sizes"]), vf=list(a["hidden_sizes"])),
                           activation_fn=torch.nn.Tanh, ortho_init=True,
                           optimizer_class=optimizer, optimizer_kwargs=optimizer_kwargs),
    )  # fmt: skip
    return model, learn_steps


def run_sb3(algo: str, seed: int, eval_interval: int) -> dict[str, Any]:
    from stable_baselines3.common.env_util import make_vec_env

    a, _ = load_config(algo)
    clock = EvalClock()
    first_eval = a["learning_starts"] + eval_interval if algo == "dqn" else eval_interval
    callback = sb3_eval_callback(clock, eval_interval, first_eval, on_rollout=algo == "ppo", seed=seed)
    clock.restart()
    env = make_vec_env(ENV_ID, n_envs=a["num_envs"], seed=seed)
    if algo == "dqn":
        model, learn_steps = sb3_dqn(env, seed), a["total_env_steps"]
    else:
        model, learn_steps = sb3_ppo(env, seed)
    model.learn(total_timesteps=learn_steps, callback=callback)
    train_seconds, cpu_seconds = clock.train_seconds(), clock.train_cpu_seconds()
    callback.final()
    env.close()
    return summarize(clock, model.num_timesteps, train_seconds, cpu_seconds)


# --------------------------------------------------------------------------------------- running
def run_one(
    framework: str, algo: str, seed: int, eval_interval: int, root: str,
    config_files: dict[str, Path], overrides: dict[str, Any],
) -> dict[str, Any]:
    """One run. Also a side-by-side worker's entry point: a fresh interpreter, so it sets the globals."""
    quiet()
    set_torch_threads(1)
    CONFIG_FILES.update(config_files)  # a worker starts from the defaults; in this process, no-ops
    OVERRIDES.update(overrides)
    if framework == "sb3":
        result = run_sb3(algo, seed, eval_interval)
    else:
        result = run_lit_rl(algo, seed, eval_interval, root, matched=framework == "lit_rl")
    result["torch_threads_after"] = torch.get_num_threads()
    return {"framework": framework, "algo": algo, "seed": seed, **result}


# -------------------------------------------------------------------------------------- results
def summarize(clock: EvalClock, env_steps: int, train_seconds: float, cpu_seconds: float) -> dict[str, Any]:
    solved = next((point for point in clock.curve if point["return_mean"] >= SOLVED), None)
    return {
        "env_steps": int(env_steps),
        "train_seconds": round(train_seconds, 3),
        "eval_seconds": round(clock.eval_seconds, 3),
        "env_steps_per_sec": round(env_steps / train_seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 3),
        "env_steps_per_cpu_sec": round(env_steps / cpu_seconds, 1),
        "solved_env_steps": solved["env_steps"] if solved else None,
        "solved_train_seconds": solved["train_seconds"] if solved else None,
        "solved_train_cpu_seconds": solved["train_cpu_seconds"] if solved else None,
        "final_return": clock.curve[-1]["return_mean"],
        "curve": clock.curve,
    }


def table(payload: dict[str, Any]) -> str:
    runs = payload["runs"]
    lines = [
        f"CartPole-v1, {len(payload['seeds'])} seeds ({', '.join(map(str, payload['seeds']))}); greedy evaluation "
        f"(20 episodes) every {payload['eval_interval']:,} env steps; wall-clock excludes evaluation for both "
        "frameworks. Cells: median (min–max) over seeds; steps/seconds to 475 over the seeds that reached it. "
        "CPU columns: process CPU seconds, less sensitive than wall-clock to other jobs on a shared machine.",
        "",
        "| algorithm | framework | reached ≥475 | env steps to ≥475 | wall-clock to ≥475 (s) | CPU-s to ≥475 "
        "| final eval return | env-steps/s (whole run) | lit_rl / SB3 env-steps/s | env steps per CPU-s "
        "| lit_rl / SB3 (CPU) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for algo in payload["algos"]:
        for framework in payload["frameworks"]:
            rows = [r for r in runs if r["algo"] == algo and r["framework"] == framework]
            if not rows:
                continue
            ratios = []
            for key in ("env_steps_per_sec", "env_steps_per_cpu_sec"):
                per_seed = []
                for r in rows if framework != "sb3" else []:
                    other = [
                        s for s in runs if s["algo"] == algo and s["framework"] == "sb3" and s["seed"] == r["seed"]
                        and s.get("pair") == r.get("pair")  # side by side: the SB3 run beside this one
                    ]  # fmt: skip
                    if other and r.get(key) and other[0].get(key):
                        per_seed.append(r[key] / other[0][key])
                ratios.append(spread(per_seed, "{:.2f}") + "×" if per_seed else "—")
            solved = sum(r["solved_env_steps"] is not None for r in rows)
            lines.append(
                f"| {algo.upper()} | {framework_label(framework, algo)} | {solved}/{len(rows)} "
                f"| {spread([r['solved_env_steps'] for r in rows])} "
                f"| {spread([r['solved_train_seconds'] for r in rows], '{:.1f}')} "
                f"| {spread([r.get('solved_train_cpu_seconds') for r in rows], '{:.1f}')} "
                f"| {spread([r['final_return'] for r in rows], '{:.1f}')} "
                f"| {spread([r['env_steps_per_sec'] for r in rows])} | {ratios[0]} "
                f"| {spread([r.get('env_steps_per_cpu_sec') for r in rows])} | {ratios[1]} |"
            )
    lines += ["", machine_line(payload["machine"])]
    return "\n".join(lines)


def plot(payload: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    algos = payload["algos"]
    fig, axes = plt.subplots(1, len(algos), figsize=(6 * len(algos), 4), squeeze=False)
    colors = {"lit_rl": "tab:blue", "sb3": "tab:orange", "lit_rl_config": "tab:green"}
    styles = ["-", "--", ":", "-."]
    for ax, algo in zip(axes[0], algos, strict=True):
        for r in payload["runs"]:
            if r["algo"] != algo:
                continue
            xs = [p["env_steps"] for p in r["curve"]]
            ys = [p["return_mean"] for p in r["curve"]]
            label = f"{framework_label(r['framework'], algo)} seed {r['seed']}"
            style = styles[payload["seeds"].index(r["seed"]) % len(styles)] if r["seed"] in payload["seeds"] else "-"
            ax.plot(xs, ys, style, color=colors[r["framework"]], label=label, marker=".", markersize=3, lw=1.2)
        ax.axhline(SOLVED, color="grey", lw=0.8, ls=":")
        ax.set(title=f"{algo.upper()} CartPole-v1: greedy eval (20 episodes)", xlabel="env steps",
               ylabel="mean return", ylim=(0, 520))  # fmt: skip
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["dqn", "ppo"], choices=["dqn", "ppo"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument(
        "--frameworks", nargs="+", default=list(FRAMEWORKS), choices=list(FRAMEWORKS),
        help="lit_rl: the config matched to SB3's algorithm; lit_rl_config: the config as shipped (DQN only)",
    )  # fmt: skip
    parser.add_argument(
        "--side-by-side", action="store_true",
        help="run each lit_rl run at the same time as its own SB3 run (one process and core each)",
    )  # fmt: skip
    parser.add_argument("--eval-interval", type=int, default=2500, help="env steps between greedy evaluations")
    parser.add_argument("--total-env-steps", type=int, default=None, help="override the configs' (smoke runs)")
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "cartpole_vs_sb3.json", help="JSON; the PNG goes beside it"
    )
    parser.add_argument(
        "--report",
        type=Path,
        nargs="+",
        default=None,
        help="no runs: print the table of these JSON files (merged into --out) and plot it",
    )
    args = parser.parse_args()
    if args.report:
        payload = merge_reports(args.report, args.out)
        print(table(payload))
        plot(payload, args.out.with_suffix(".png"))
        return

    quiet()
    set_torch_threads(1)
    import lit_rl.algorithms.dqn  # noqa: F401  import the package once, at the start: see snapshot_config
    import lit_rl.algorithms.on_policy  # noqa: F401

    config_folder = tempfile.mkdtemp(prefix="lit_rl_bench_configs_")
    for algo in args.algos:
        CONFIG_FILES[algo] = snapshot_config(CONFIG_FILES[algo].name, config_folder)
    if args.total_env_steps is not None:
        OVERRIDES["total_env_steps"] = args.total_env_steps
    payload = {
        "benchmark": "cartpole_vs_sb3", "machine": machine(), "algos": args.algos, "seeds": args.seeds,
        "frameworks": args.frameworks, "matched_to_sb3": MATCHED_TO_SB3, "eval_interval": args.eval_interval,
        "solved_threshold": SOLVED,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": [],
        "configs": {algo: CONFIG_FILES[algo].read_text() for algo in args.algos},
    }  # fmt: skip
    pairs = 0
    with tempfile.TemporaryDirectory(prefix="lit_rl_bench_") as root:
        for algo in args.algos:
            # The config already runs SB3's algorithm where nothing is matched: "lit_rl" is that run.
            frameworks = [f for f in args.frameworks if f != "lit_rl_config" or MATCHED_TO_SB3[algo]]
            for seed in args.seeds:
                if args.side_by_side:  # each lit_rl run beside its own SB3 run, one process each
                    groups = [[framework, "sb3"] for framework in frameworks if framework != "sb3"]
                else:  # interleaved: load hits both frameworks alike
                    groups = [[framework] for framework in frameworks]
                for group in groups:
                    run = (algo, seed, args.eval_interval, root, CONFIG_FILES, OVERRIDES)
                    jobs = [(framework, *run) for framework in group]
                    pairs += len(jobs) > 1
                    results = run_group(run_one, jobs, pairs)
                    for result in results:
                        payload["runs"].append(result)
                        write_json(args.out, payload)  # partial results survive an interrupted run
                        print(
                            f"{algo} {result['framework']:13s} seed {seed}: {result['env_steps']} env steps in "
                            f"{result['train_seconds']:.1f} s ({result['env_steps_per_sec']:.0f}/s), solved at "
                            f"{result['solved_env_steps']} steps / {result['solved_train_seconds']} s, "
                            f"final {result['final_return']:.1f}",
                            flush=True,
                        )
    print()
    print(table(payload))
    plot(payload, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main_benchmark()
