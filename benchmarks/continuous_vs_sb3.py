"""SAC and TD3 on continuous control: lit_rl against Stable-Baselines3 with matched hyperparameters.

Pendulum-v1 (the default, ``--env pendulum``): for each (algorithm, seed, framework) it trains for the
config's 20,000 env steps, evaluates the deterministic policy every ``--eval-interval`` (1,000) env
steps once learning has started (10 episodes, one per sub-environment, with
``lit_rl.evaluation.evaluate_episodes`` and the same episode seeds for both frameworks), and records
the env steps and training wall-clock until the mean evaluation return first reaches -200 (``None``
if it never does), the final evaluation, and the env-steps/s of the whole run. Seeds 1-5.

HalfCheetah-v5 (``--env halfcheetah``, needs ``pip install -e ".[mujoco]"``): 100,000 env steps
(``total_env_steps`` of the configs lowered from 1M; their ``learning_starts`` stay: 5,000 for SAC,
25,000 for TD3), evaluation every 10,000 env steps (the configs' ``eval_interval``) and at the end,
3 seeds: the return of the final evaluation at 100k and the env-steps/s of the whole run.

Runs are interleaved (lit_rl seed 1, SB3 seed 1, lit_rl seed 2, ...), or with ``--side-by-side``
each lit_rl run starts at the same time as its own SB3 run (one process and core each) and the
speed ratio is taken within that pair. Cells are median (min-max) over seeds.

Wall-clock excludes evaluation for BOTH frameworks: every evaluation call is timed and subtracted,
so the figures are training time only (the random warm-up, env stepping, replay storage, gradient
steps, and whatever the framework does around them: Lightning's loops, hooks and logging for lit_rl).

The hyperparameters come from ``configs/{sac,td3}_{pendulum,halfcheetah}.yaml`` (the source of
truth); ``sb3_sac``/``sb3_td3`` map them to SB3 arguments and list the mismatches; a config value SB3
cannot run (``refuse_unmatched``) stops the benchmark instead of being silently dropped.

Time budget on the 2-core VM, one torch thread per run (estimated from the CPU seconds of smoke runs,
~13 ms per gradient step for SAC and TD3 on Pendulum, ~15 ms (SAC) and ~11 ms (TD3) on HalfCheetah;
random warm-up steps are nearly free; evaluation adds little):
- Pendulum, SAC + TD3, 5 seeds: ~40 min with ``--side-by-side`` (SAC ~4 min a run, TD3 ~2.5 min:
  its first 10,000 steps are random), ~70 min one run at a time.
- HalfCheetah, SAC + TD3, 3 seeds, 100k env steps: ~2 h with ``--side-by-side`` (SAC ~25 min a run,
  TD3 ~15 min: its first 25,000 steps are random), ~4 h one run at a time.
On a machine busy with other jobs, up to twice as long.

    pip install -e ".[bench,mujoco]"     # stable-baselines3, matplotlib; mujoco for HalfCheetah
    python benchmarks/continuous_vs_sb3.py --side-by-side                      # Pendulum, SAC + TD3, seeds 1-5
    python benchmarks/continuous_vs_sb3.py --side-by-side --env halfcheetah    # HalfCheetah, 100k steps, seeds 1-3
    python benchmarks/continuous_vs_sb3.py --algos td3 --seeds 1 2 --frameworks lit_rl sb3   # one run at a time
    python benchmarks/continuous_vs_sb3.py --algos sac td3 --seeds 1 --total-env-steps 2000 --eval-interval 1000 \\
        --out /tmp/smoke/pendulum.json                                          # smoke run, ~1 min
    python benchmarks/continuous_vs_sb3.py --env halfcheetah --seeds 1 --total-env-steps 1500 --eval-interval 500 \\
        --side-by-side --out /tmp/smoke/halfcheetah.json                        # smoke run, ~1.5 min
    python benchmarks/continuous_vs_sb3.py --report benchmarks/results/continuous_vs_sb3_pendulum.json  # table + PNG
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

EVAL_SEED_OFFSET = 1_000_000  # lit_rl's: evaluation episodes are seeded run_seed + 1,000,000
ENVS: dict[str, dict[str, Any]] = {
    "pendulum": {
        "configs": {"sac": "sac_pendulum.yaml", "td3": "td3_pendulum.yaml"},
        "total_env_steps": None,  # the configs' (20,000)
        "eval_interval": 1000,
        "threshold": -200.0,  # first mean evaluation return >= this
        "seeds": [1, 2, 3, 4, 5],
    },
    "halfcheetah": {
        "configs": {"sac": "sac_halfcheetah.yaml", "td3": "td3_halfcheetah.yaml"},
        "total_env_steps": 100_000,  # the configs say 1M
        "eval_interval": None,  # the configs' (10,000)
        "threshold": None,  # only the final evaluation is compared
        "seeds": [1, 2, 3],
    },
}
CONFIG_FILES: dict[str, Path] = {}  # algo -> the snapshot of its config (set per --env in main and in workers)
OVERRIDES: dict[str, dict[str, Any]] = {}  # algo -> model arguments changed for this benchmark, for both frameworks
FRAMEWORKS = {"lit_rl": "lit_rl", "sb3": "SB3"}


def load_config(algo: str) -> dict[str, Any]:
    """The model's init_args: the config's, with this benchmark's overrides."""
    config = yaml.safe_load(CONFIG_FILES[algo].read_text())
    return {**config["model"]["init_args"], **OVERRIDES.get(algo, {})}


def benchmark_overrides(a: dict[str, Any], total_env_steps: int | None) -> dict[str, Any]:
    """What the benchmark changes in a config's init_args ``a``: the run length, and for short runs the warm-up.

    A smoke run shorter than the config's ``learning_starts`` (TD3 Pendulum: 10,000) would be all random
    actions in SB3 and would overshoot in lit_rl (its warm-up always runs whole): ``learning_starts`` then
    drops to half the run (at least ``batch_size``), for both frameworks.
    """
    overrides: dict[str, Any] = {}
    if total_env_steps is not None:
        overrides["total_env_steps"] = total_env_steps
        if a["learning_starts"] >= total_env_steps:
            overrides["learning_starts"] = max(a["batch_size"], total_env_steps // 2)
    return overrides


def refuse_unmatched(algo: str, a: dict[str, Any]) -> None:
    """Stop on config values that SB3's SAC/TD3 cannot run (rather than comparing different algorithms)."""
    problems = []
    if a.get("max_grad_norm") is not None:
        problems.append("max_grad_norm (SB3's SAC and TD3 do not clip gradients)")
    if algo == "sac" and a.get("policy_frequency", 1) != 1:
        problems.append("policy_frequency != 1 (SB3's SAC updates the actor at every gradient step)")
    if algo == "sac" and a.get("target_network_frequency", 1) != 1:
        problems.append(
            "target_network_frequency != 1 (SB3's SAC counts target_update_interval within one round of "
            "gradient_steps, not over the run)"
        )
    if problems:
        raise ValueError(f"{CONFIG_FILES[algo].name}: SB3 cannot match " + "; ".join(problems))


# ---------------------------------------------------------------------------------------- lit_rl
def run_lit_rl(algo: str, seed: int, eval_interval: int, root: str, threshold: float | None) -> dict[str, Any]:
    from lit_rl.envs import make_vector_env
    from lit_rl.evaluation import evaluate_episodes

    a = load_config(algo)
    cli = lit_rl_cli(CONFIG_FILES[algo], seed, root, {"eval_interval": eval_interval, **OVERRIDES.get(algo, {})})
    module = cli.model  # the TensorBoard logger stays, as a user runs it
    clock = EvalClock()
    with patch_evaluation(clock.timed(evaluate_episodes, lambda: module.env_steps)):
        clock.restart()
        cli.trainer.fit(module)
        train_seconds, cpu_seconds = clock.train_seconds(), clock.train_cpu_seconds()
    expected = (module.env_steps - a["learning_starts"]) // eval_interval  # epochs ended (the last may not)
    if expected and len(clock.curve) < max(1, expected - 1):
        raise RuntimeError(f"only {len(clock.curve)} evaluations were timed: lit_rl's evaluation path changed?")
    if not clock.curve or clock.curve[-1]["env_steps"] != module.env_steps:  # evaluate the final policy
        env = make_vector_env(a["env_id"], a["eval_episodes"], a.get("env_kwargs"))
        clock.timed(evaluate_episodes, lambda: module.env_steps)(
            module.evaluation_actions, env, seed=seed + EVAL_SEED_OFFSET
        )
        env.close()
    return summarize(clock, module.env_steps, train_seconds, cpu_seconds, module.gradient_updates, threshold)


# ------------------------------------------------------------------------------------------ SB3
def sb3_eval_callback(clock: EvalClock, a: dict[str, Any], eval_interval: int, seed: int):
    """Deterministic evaluation at the env steps where lit_rl's epochs end (``learning_starts + k * eval_interval``).

    With lit_rl's evaluation function, env (``eval_episodes`` sub-environments) and episode seeds.
    Checked after every env step, before SB3's gradient step of that env step.
    """
    from stable_baselines3.common.callbacks import BaseCallback

    from lit_rl.envs import make_vector_env
    from lit_rl.evaluation import evaluate_episodes

    first_eval = a["learning_starts"] + eval_interval

    class Evaluate(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next_eval = first_eval
            self.env = make_vector_env(a["env_id"], a["eval_episodes"], a.get("env_kwargs"))
            self.evaluate = clock.timed(evaluate_episodes, lambda: self.num_timesteps)

        def policy(self, obs: np.ndarray) -> np.ndarray:
            return self.model.predict(obs, deterministic=True)[0]

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next_eval:
                self.evaluate(self.policy, self.env, seed=seed + EVAL_SEED_OFFSET)
                self.next_eval = (self.num_timesteps - first_eval) // eval_interval * eval_interval
                self.next_eval += first_eval + eval_interval
            return True

        def final(self) -> None:
            if not clock.curve or clock.curve[-1]["env_steps"] != self.num_timesteps:
                self.evaluate(self.policy, self.env, seed=seed + EVAL_SEED_OFFSET)
            self.env.close()

    return Evaluate()


def with_critic_learning_rate(algorithm: type, critic_learning_rate: float) -> type:
    """SB3's ``algorithm`` with lit_rl's ``critic_learning_rate`` for the critics (and SAC's temperature).

    SB3 has one learning rate: before each round its ``train`` sets it on ``[actor, critic]`` (SAC: plus
    the temperature's) optimizer through ``_update_learning_rate``. This subclass then sets the critics'
    (and the temperature's) to ``critic_learning_rate``; the actor keeps ``learning_rate``. That is what
    lit_rl's SAC and TD3 do with the two values. ``run_sb3`` records the rates the optimizers ended with.
    """
    from stable_baselines3.common.utils import update_learning_rate

    class WithCriticLearningRate(algorithm):
        def _update_learning_rate(self, optimizers: list[torch.optim.Optimizer] | torch.optim.Optimizer) -> None:
            super()._update_learning_rate(optimizers)
            if not isinstance(optimizers, list) or len(optimizers) < 2 or optimizers[0] is not self.actor.optimizer:
                raise RuntimeError("SB3's optimizer order changed: expected [actor, critic, (temperature)]")
            for optimizer in optimizers[1:]:
                update_learning_rate(optimizer, critic_learning_rate)

    WithCriticLearningRate.__name__ = f"{algorithm.__name__}WithCriticLearningRate"
    return WithCriticLearningRate


def sb3_common(a: dict[str, Any], env, seed: int, algorithm: type) -> tuple[type, dict[str, Any]]:
    """The arguments SB3's SAC and TD3 share, and the class to build (with a critic learning rate if needed)."""
    optimizer, optimizer_kwargs = optimizer_from_config(a)
    critic_lr = a.get("critic_learning_rate")
    if critic_lr is not None and critic_lr != a["learning_rate"]:
        algorithm = with_critic_learning_rate(algorithm, critic_lr)
    return algorithm, dict(
        policy="MlpPolicy", env=env, seed=seed, device="cpu", verbose=0,
        learning_rate=a["learning_rate"], buffer_size=a["buffer_size"], learning_starts=a["learning_starts"],
        batch_size=a["batch_size"], tau=a["tau"], gamma=a["gamma"],
        train_freq=(a["train_frequency"], "step"), gradient_steps=a["gradient_steps"],
        policy_kwargs=dict(net_arch=list(a["hidden_sizes"]), activation_fn=torch.nn.ReLU,
                           optimizer_class=optimizer, optimizer_kwargs=optimizer_kwargs),
    )  # fmt: skip


def sb3_sac(env, seed: int):
    """SB3 SAC with the SAC config's values.

    Matched: twin ReLU critics and a squashed-Gaussian actor with ``hidden_sizes`` (net_arch), PyTorch's
    default init, log-std clamped to [-20, 2]; Adam (or the config's optimizer) for actor, critics and
    temperature; ``ent_coef`` ("auto": learned, starting at 1; "auto_<x>"; or a number); target entropy
    -dim(A) ("auto") unless the config sets one; rounds of ``train_frequency`` env steps then
    ``gradient_steps`` gradient steps; Polyak targets (tau) after every gradient step
    (target_update_interval 1); ``learning_starts`` uniformly random actions; truncation bootstraps;
    deterministic evaluation with tanh(mean). ``critic_learning_rate`` (sac_halfcheetah.yaml: 1e-3 for
    the critics and the temperature, 3e-4 for the actor): SB3 has one ``learning_rate``; the two are set
    apart by ``with_critic_learning_rate``, a subclass that overrides SB3's private
    ``_update_learning_rate`` (not part of SB3's public API; it checks the optimizer order it relies on).

    Unavoidable mismatches (none changes what is learned beyond noise, except perhaps the order):
    - Order within a gradient step: SB3 samples a ~ pi(s) once, updates the temperature, then the
      critics, then the actor with that sample (the actor loss sees the updated critics, and the
      temperature from before its step); lit_rl updates the critics, then samples a fresh a ~ pi(s)
      for the actor's loss, then the temperature.
    - Critic loss scale: SB3 minimises 0.5 x the summed MSEs, lit_rl the summed MSEs. Adam is
      invariant to the scale (apart from its eps), so this changes nothing measurable.
    - log pi: SB3 uses log(1 - tanh(u)^2 + 1e-6), lit_rl the exact 2(log 2 - u - softplus(-2u)).
    - Autoreset: SB3's DummyVecEnv resets in the same step, lit_rl (gymnasium >= 1.0) in the next one,
      which lit_rl counts as an env step (and a round of training) but does not store: 1 env step per
      episode (0.5% on Pendulum's 200-step episodes, 0.1% on HalfCheetah's 1,000).
    - At each evaluation SB3 has taken one gradient step fewer (its callback runs before the env
      step's gradient step; lit_rl evaluates at the end of an epoch, after it).
    """
    from stable_baselines3 import SAC

    a = load_config("sac")
    refuse_unmatched("sac", a)
    algorithm, kwargs = sb3_common(a, env, seed, SAC)
    target_entropy = a.get("target_entropy")
    return algorithm(
        **kwargs, ent_coef=a["ent_coef"], target_update_interval=1,
        target_entropy="auto" if target_entropy is None else float(target_entropy),
    )  # fmt: skip


def sb3_td3(env, seed: int):
    """SB3 TD3 with the TD3 config's values.

    Matched: a tanh ReLU actor and twin ReLU critics (one with ``twin_critics: false``) with
    ``hidden_sizes``, PyTorch's default init; the actor and all target updates every
    ``policy_frequency`` gradient steps (policy_delay), counted over the run in both; the actor ascends
    the first critic; target policy smoothing N(0, target_policy_noise) clipped at target_noise_clip,
    then to [-1, 1]; rounds, warm-up, truncation bootstraps as SAC's. ``critic_learning_rate``, where
    a config sets it, as in ``sb3_sac``.

    Exploration noise: SB3 adds ``action_noise`` to the action scaled to [-1, 1] (then clips it there),
    not to the env's action, so ``NormalActionNoise(0, exploration_noise)`` per dimension is lit_rl's
    noise of ``exploration_noise`` half-ranges exactly, and the rl-baselines3-zoo's ``noise_std`` that
    the Pendulum config copies. ``exploration_noise * (high - low) / 2`` would double it on Pendulum
    (actions in [-2, 2]).

    Unavoidable mismatches: autoreset and the gradient step before each evaluation, as in ``sb3_sac``.
    """
    from stable_baselines3 import TD3
    from stable_baselines3.common.noise import NormalActionNoise

    a = load_config("td3")
    refuse_unmatched("td3", a)
    algorithm, kwargs = sb3_common(a, env, seed, TD3)
    kwargs["policy_kwargs"]["n_critics"] = 2 if a.get("twin_critics", True) else 1
    action_size = int(np.prod(env.action_space.shape))
    noise = NormalActionNoise(np.zeros(action_size), np.full(action_size, float(a["exploration_noise"])))
    return algorithm(
        **kwargs, action_noise=noise, policy_delay=a["policy_frequency"],
        target_policy_noise=a["target_policy_noise"], target_noise_clip=a["target_noise_clip"],
    )  # fmt: skip


def run_sb3(algo: str, seed: int, eval_interval: int, threshold: float | None) -> dict[str, Any]:
    from stable_baselines3.common.env_util import make_vec_env

    a = load_config(algo)
    clock = EvalClock()
    callback = sb3_eval_callback(clock, a, eval_interval, seed)
    clock.restart()
    env = make_vec_env(a["env_id"], n_envs=a["num_envs"], seed=seed, env_kwargs=a.get("env_kwargs"))
    model = (sb3_sac if algo == "sac" else sb3_td3)(env, seed)
    model.learn(total_timesteps=a["total_env_steps"], callback=callback)
    train_seconds, cpu_seconds = clock.train_seconds(), clock.train_cpu_seconds()
    callback.final()
    env.close()
    result = summarize(clock, model.num_timesteps, train_seconds, cpu_seconds, model._n_updates, threshold)
    optimizers = {"actor": model.actor.optimizer, "critic": model.critic.optimizer}
    if getattr(model, "ent_coef_optimizer", None) is not None:
        optimizers["temperature"] = model.ent_coef_optimizer
    result["sb3_learning_rates"] = {name: opt.param_groups[0]["lr"] for name, opt in optimizers.items()}
    return result


# --------------------------------------------------------------------------------------- running
def run_one(
    framework: str,
    algo: str,
    seed: int,
    eval_interval: int,
    root: str,
    config_files: dict[str, Path],
    overrides: dict[str, dict[str, Any]],
    threshold: float | None,
) -> dict[str, Any]:
    """One run. Also a side-by-side worker's entry point: a fresh interpreter, so it sets the globals."""
    quiet()
    set_torch_threads(1)
    CONFIG_FILES.update(config_files)  # a worker starts empty; in this process, no-ops
    OVERRIDES.update(overrides)
    if framework == "sb3":
        result = run_sb3(algo, seed, eval_interval, threshold)
    else:
        result = run_lit_rl(algo, seed, eval_interval, root, threshold)
    result["torch_threads_after"] = torch.get_num_threads()
    return {"framework": framework, "algo": algo, "seed": seed, **result}


# -------------------------------------------------------------------------------------- results
def summarize(
    clock: EvalClock,
    env_steps: int,
    train_seconds: float,
    cpu_seconds: float,
    gradient_steps: int,
    threshold: float | None,
) -> dict[str, Any]:
    """A run's figures; ``solved_*``: the first evaluation whose mean return is >= ``threshold``."""
    reached = None
    if threshold is not None:
        reached = next((point for point in clock.curve if point["return_mean"] >= threshold), None)
    return {
        "env_steps": int(env_steps),
        "gradient_steps": int(gradient_steps),
        "train_seconds": round(train_seconds, 3),
        "eval_seconds": round(clock.eval_seconds, 3),
        "env_steps_per_sec": round(env_steps / train_seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 3),
        "env_steps_per_cpu_sec": round(env_steps / cpu_seconds, 1),
        "solved_env_steps": reached["env_steps"] if reached else None,
        "solved_train_seconds": reached["train_seconds"] if reached else None,
        "solved_train_cpu_seconds": reached["train_cpu_seconds"] if reached else None,
        "evaluations": len(clock.curve),
        "final_env_steps": clock.curve[-1]["env_steps"],
        "final_return": clock.curve[-1]["return_mean"],
        "curve": clock.curve,
    }


def speed_ratios(runs: list[dict[str, Any]], algo: str, framework: str, rows: list[dict[str, Any]]) -> list[str]:
    """lit_rl / SB3 env-steps/s (wall, CPU) per seed (side by side: per pair), as median (min–max)."""
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
    return ratios


def table(payload: dict[str, Any]) -> str:
    runs, threshold = payload["runs"], payload["threshold"]
    seeds = sorted({r["seed"] for r in runs})  # merged reports: the runs', not the first file's list
    final_steps = sorted({r["final_env_steps"] for r in runs})
    lines = [
        f"{payload['env_id']}, {len(seeds)} seeds ({', '.join(map(str, seeds))}); "
        f"deterministic evaluation ({payload['eval_episodes']} episodes) every {payload['eval_interval']:,} env "
        f"steps after learning_starts and at the end ({', '.join(f'{s:,}' for s in final_steps)} env steps); "
        "wall-clock excludes evaluation for both frameworks. Cells: median (min–max) over seeds"
        + (f"; steps/seconds to {threshold:g} over the seeds that reached it" if threshold is not None else "")
        + ". CPU columns: process CPU seconds, less sensitive than wall-clock to other jobs on a shared machine.",
        "",
    ]
    if threshold is not None:
        t = f"≥{threshold:g}"
        lines += [
            f"| algorithm | framework | reached {t} | env steps to {t} | wall-clock to {t} (s) | CPU-s to {t} "
            "| final eval return | env-steps/s (whole run) | lit_rl / SB3 env-steps/s | env steps per CPU-s "
            "| lit_rl / SB3 (CPU) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
    else:
        lines += [
            "| algorithm | framework | final eval return | env-steps/s (whole run) | lit_rl / SB3 env-steps/s "
            "| env steps per CPU-s | lit_rl / SB3 (CPU) |",
            "|---|---|---|---|---|---|---|",
        ]
    for algo in payload["algos"]:
        for framework in payload["frameworks"]:
            rows = [r for r in runs if r["algo"] == algo and r["framework"] == framework]
            if not rows:
                continue
            ratios = speed_ratios(runs, algo, framework, rows)
            cells = [algo.upper(), FRAMEWORKS[framework]]
            if threshold is not None:
                cells += [
                    f"{sum(r['solved_env_steps'] is not None for r in rows)}/{len(rows)}",
                    spread([r["solved_env_steps"] for r in rows]),
                    spread([r["solved_train_seconds"] for r in rows], "{:.1f}"),
                    spread([r["solved_train_cpu_seconds"] for r in rows], "{:.1f}"),
                ]
            cells += [
                spread([r["final_return"] for r in rows], "{:.1f}"),
                spread([r["env_steps_per_sec"] for r in rows]), ratios[0],
                spread([r["env_steps_per_cpu_sec"] for r in rows]), ratios[1],
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", machine_line(payload["machine"])]
    return "\n".join(lines)


def plot(payload: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    algos = payload["algos"]
    fig, axes = plt.subplots(1, len(algos), figsize=(6 * len(algos), 4), squeeze=False)
    colors = {"lit_rl": "tab:blue", "sb3": "tab:orange"}
    styles = ["-", "--", ":", "-."]
    for ax, algo in zip(axes[0], algos, strict=True):
        for r in payload["runs"]:
            if r["algo"] != algo:
                continue
            xs = [p["env_steps"] for p in r["curve"]]
            ys = [p["return_mean"] for p in r["curve"]]
            style = styles[payload["seeds"].index(r["seed"]) % len(styles)] if r["seed"] in payload["seeds"] else "-"
            label = f"{FRAMEWORKS[r['framework']]} seed {r['seed']}"
            ax.plot(xs, ys, style, color=colors[r["framework"]], label=label, marker=".", markersize=3, lw=1.2)
        if payload["threshold"] is not None:
            ax.axhline(payload["threshold"], color="grey", lw=0.8, ls=":")
        ax.set(title=f"{algo.upper()} {payload['env_id']}: deterministic eval ({payload['eval_episodes']} episodes)",
               xlabel="env steps", ylabel="mean return")  # fmt: skip
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="pendulum", choices=list(ENVS), help="which configs (default: pendulum)")
    parser.add_argument("--algos", nargs="+", default=["sac", "td3"], choices=["sac", "td3"])
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default: 1-5 (Pendulum), 1-3 (HalfCheetah)")
    parser.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=list(FRAMEWORKS))
    parser.add_argument(
        "--side-by-side", action="store_true",
        help="run each lit_rl run at the same time as its own SB3 run (one process and core each)",
    )  # fmt: skip
    parser.add_argument(
        "--eval-interval", type=int, default=None,
        help="env steps between evaluations (default: 1,000 on Pendulum, the config's 10,000 on HalfCheetah)",
    )  # fmt: skip
    parser.add_argument(
        "--total-env-steps", type=int, default=None,
        help="override the run length (default: the configs' 20,000 on Pendulum, 100,000 on HalfCheetah); a run "
        "shorter than a config's learning_starts also lowers learning_starts to half the run (smoke runs)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=None,
        help="JSON (default: benchmarks/results/continuous_vs_sb3_<env>.json); the PNG goes beside it",
    )  # fmt: skip
    parser.add_argument(
        "--report", type=Path, nargs="+", default=None,
        help="no runs: print the table of these JSON files (merged into --out) and plot it",
    )  # fmt: skip
    args = parser.parse_args()
    if args.report:
        if len(args.report) > 1 and args.out is None:
            parser.error("--report with several files merges them: name the merged JSON with --out")
        out = args.out or args.report[0]  # one file: not rewritten, the PNG goes beside it
        payload = merge_reports(args.report, out)
        print(table(payload))
        plot(payload, out.with_suffix(".png"))
        return
    out = args.out or RESULTS / f"continuous_vs_sb3_{args.env}.json"

    quiet()
    set_torch_threads(1)
    import lit_rl.algorithms.sac  # noqa: F401  import the package once, at the start: see snapshot_config
    import lit_rl.algorithms.td3  # noqa: F401

    env = ENVS[args.env]
    seeds = args.seeds or env["seeds"]
    config_folder = tempfile.mkdtemp(prefix="lit_rl_bench_configs_")
    for algo in args.algos:
        CONFIG_FILES[algo] = snapshot_config(env["configs"][algo], config_folder)
        OVERRIDES[algo] = benchmark_overrides(load_config(algo), args.total_env_steps or env["total_env_steps"])
        refuse_unmatched(algo, load_config(algo))  # before any run, not halfway through the series
    configs = {algo: load_config(algo) for algo in args.algos}
    env_ids = {a["env_id"] for a in configs.values()}
    eval_episodes = {a["eval_episodes"] for a in configs.values()}
    if len(env_ids) > 1 or len(eval_episodes) > 1:
        raise ValueError(f"the configs disagree on env_id {env_ids} or eval_episodes {eval_episodes}")
    eval_intervals = {
        algo: args.eval_interval or env["eval_interval"] or a["eval_interval"] for algo, a in configs.items()
    }
    if len(set(eval_intervals.values())) > 1:
        raise ValueError(f"the configs' eval_interval differ {eval_intervals}: pass --eval-interval")
    eval_interval = next(iter(eval_intervals.values()))
    payload = {
        "benchmark": "continuous_vs_sb3", "env": args.env, "env_id": env_ids.pop(), "machine": machine(),
        "algos": args.algos, "seeds": seeds, "frameworks": args.frameworks, "eval_interval": eval_interval,
        "eval_episodes": eval_episodes.pop(), "threshold": env["threshold"], "overrides": OVERRIDES,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": [],
        "configs": {algo: CONFIG_FILES[algo].read_text() for algo in args.algos},
    }  # fmt: skip
    pairs = 0
    with tempfile.TemporaryDirectory(prefix="lit_rl_bench_") as root:
        for algo in args.algos:
            for seed in seeds:
                if args.side_by_side and len(args.frameworks) == 2:  # lit_rl beside its own SB3 run, one process each
                    groups = [list(args.frameworks)]
                else:  # interleaved: load hits both frameworks alike
                    groups = [[framework] for framework in args.frameworks]
                for group in groups:
                    run = (algo, seed, eval_interval, root, CONFIG_FILES, OVERRIDES, env["threshold"])
                    jobs = [(framework, *run) for framework in group]
                    pairs += len(jobs) > 1
                    for result in run_group(run_one, jobs, pairs):
                        payload["runs"].append(result)
                        write_json(out, payload)  # partial results survive an interrupted run
                        print(
                            f"{algo} {result['framework']:6s} seed {seed}: {result['env_steps']} env steps "
                            f"({result['gradient_steps']} gradient steps) in {result['train_seconds']:.1f} s "
                            f"({result['env_steps_per_sec']:.0f}/s), reached {payload['threshold']} at "
                            f"{result['solved_env_steps']} steps / {result['solved_train_seconds']} s, "
                            f"final {result['final_return']:.1f} at {result['final_env_steps']}",
                            flush=True,
                        )
    print()
    print(table(payload))
    plot(payload, out.with_suffix(".png"))


if __name__ == "__main__":
    main_benchmark()
