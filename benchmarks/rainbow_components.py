"""The DQN family up to Rainbow on CartPole-v1 and Acrobot-v1: each component alone, and all together.

For each (env, variant, seed) it trains lit_rl.DQN, evaluates the greedy policy every
``--eval-interval`` env steps (default 2,500 on CartPole-v1, 5,000 on Acrobot-v1; the config's 20
episodes, one per sub-environment, with ``lit_rl.evaluation.evaluate_episodes``), and records the env
steps and training wall-clock (evaluation excluded) at which the greedy mean return first reaches
the env's threshold: 475 on CartPole-v1, -100 on Acrobot-v1. lit_rl evaluates at the end of each
epoch, i.e. at ``learning_starts`` + k x (the interval in whole rounds of ``train_frequency`` env
steps): 3,496, 5,992, ... on CartPole-v1, 5,128, 10,128, ... on Acrobot-v1; the recorded env steps
are the exact ones. With ``--stop-when-solved`` (the default) a run ends at that evaluation, whose
return is then its final one; the env steps to the threshold are the same either way (every
schedule is a function of env steps and ``total_env_steps``, and stopping only cuts the run short).
Runs that never reach the threshold within the config's ``total_env_steps`` count as "not reached".

Variants (rows) are model overrides on top of a per-env base config:
- CartPole-v1: ``configs/dqn_cartpole.yaml`` (its rounds, network, learning-rate decay and budget
  of 50,000 env steps); the ``dqn`` row switches off the Double-DQN target and 3-step returns it
  ships with.
- Acrobot-v1: ``configs/dqn_acrobot.yaml`` (RL Zoo's tuned DQN hyperparameters, 100,000 env steps).
``dqn`` is plain DQN (no Double-DQN target, 1-step returns); each ``+component`` row adds one
component to it (``+qr``: QR-DQN with 51 quantiles); ``rainbow`` adds Double DQN, dueling,
prioritized replay (alpha 0.5, beta 0.4 -> 1), noisy nets, C51 (51 atoms) and 3-step returns: on
CartPole-v1 that is ``configs/rainbow_cartpole.yaml``. With noisy nets epsilon is 0: the base configs
set start_e/end_e, so the variants set them to 0, as DQN's defaults do with noisy nets. C51's
support is [0, 100] on CartPole-v1 (returns are at most 1 / (1 - 0.99) = 100) and [-100, 0] on
Acrobot-v1 (-1 per step).

With ``--jobs N`` N runs train at once, one spawned process and torch thread each: env-step counts
do not change (each run is deterministic per seed), but wall-clock figures then include contention.
Machine time: ~7 CPU-hours if no run stopped early (Acrobot-v1 ~85% of it; its rainbow and +qr
runs ~15 min each), measured on a busy 2-core AMD EPYC; ``--stop-when-solved`` saves much of it.

    python benchmarks/rainbow_components.py --jobs 2      # both envs, every variant, seeds 1-5
    python benchmarks/rainbow_components.py --envs cartpole --variants dqn rainbow --seeds 1 2
    python benchmarks/rainbow_components.py --total-env-steps 3000 --seeds 1 --out /tmp/smoke.json  # smoke run
    python benchmarks/rainbow_components.py --report benchmarks/results/rainbow_components.json  # table + PNG again
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import lightning as L

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    RESULTS,
    EvalClock,
    lit_rl_cli,
    machine,
    machine_line,
    merge_reports,
    patch_evaluation,
    quiet,
    set_torch_threads,
    snapshot_config,
    spread,
    write_json,
)

ENVS: dict[str, dict[str, Any]] = {
    "cartpole": dict(
        env_id="CartPole-v1", config="dqn_cartpole.yaml", threshold=475.0, eval_interval=2500,
        c51_support=dict(v_min=0.0, v_max=100.0),
    ),
    "acrobot": dict(
        env_id="Acrobot-v1", config="dqn_acrobot.yaml", threshold=-100.0, eval_interval=5000,
        c51_support=dict(v_min=-100.0, v_max=0.0),
    ),
}  # fmt: skip
# Every variant starts from plain DQN, whatever the base config ships with.
PLAIN = dict(
    double_dqn=False, n_step=1, dueling=False, prioritized_replay=False, noisy_nets=False, distributional="none"
)
PRIORITIZED = dict(prioritized_replay=True, priority_alpha=0.5, priority_beta_start=0.4)
NOISY = dict(noisy_nets=True, start_e=0.0, end_e=0.0)  # the noise explores; no epsilon-greedy
C51 = dict(distributional="c51", num_atoms=51)  # plus the env's c51_support
VARIANTS: dict[str, dict[str, Any]] = {
    "dqn": {},
    "+double": dict(double_dqn=True),
    "+dueling": dict(dueling=True),
    "+prioritized": PRIORITIZED,
    "+noisy": NOISY,
    "+c51": C51,
    # 51 quantiles, C51's width: the loss costs O(batch x quantiles^2), and the paper's 200 take ~100 ms
    # per gradient step at batch 128 on one CPU thread (RL Zoo's QR-DQN uses 25 on Acrobot-v1, 10 on CartPole-v1).
    "+qr": dict(distributional="qr", num_quantiles=51),
    "+n_step3": dict(n_step=3),
    "rainbow": dict(double_dqn=True, dueling=True, **PRIORITIZED, **NOISY, **C51, n_step=3),
}


def model_overrides(env: str, variant: str) -> dict[str, Any]:
    overrides = {**PLAIN, **VARIANTS[variant]}
    if overrides["distributional"] == "c51":
        overrides.update(ENVS[env]["c51_support"])
    return overrides


class StopWhenSolved(L.Callback):
    """End training at the first evaluation whose greedy mean return reaches ``threshold``."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        score = trainer.callback_metrics.get("eval/episodic_return")
        if not trainer.sanity_checking and score is not None and float(score) >= self.threshold:
            trainer.should_stop = True


# --------------------------------------------------------------------------------------- running
def run_one(
    env: str, variant: str, seed: int, eval_interval: int, stop_when_solved: bool,
    config: Path, extra: dict[str, Any], root: str,
) -> dict[str, Any]:
    """One run; also a spawned worker's entry point (it sets up its own process)."""
    quiet()
    set_torch_threads(1)
    from lit_rl.algorithms.common import EVAL_SEED_OFFSET
    from lit_rl.envs import make_vector_env
    from lit_rl.evaluation import evaluate_episodes

    spec = ENVS[env]
    overrides = {**model_overrides(env, variant), "eval_interval": eval_interval, **extra}
    run_root = str(Path(root) / f"{env}_{variant}_{seed}")  # parallel runs: a TensorBoard folder each
    cli = lit_rl_cli(config, seed, run_root, overrides)
    module = cli.model
    if stop_when_solved:
        cli.trainer.callbacks.append(StopWhenSolved(spec["threshold"]))
    clock = EvalClock()
    with patch_evaluation(clock.timed(evaluate_episodes, lambda: module.env_steps)):
        clock.restart()
        cli.trainer.fit(module)
        train_seconds, cpu_seconds = clock.train_seconds(), clock.train_cpu_seconds()
    if len(clock.curve) < module.env_steps // eval_interval - 1:
        raise RuntimeError(f"only {len(clock.curve)} evaluations were timed: lit_rl's evaluation path changed?")
    if not clock.curve or clock.curve[-1]["env_steps"] != module.env_steps:  # evaluate the final policy
        eval_env = make_vector_env(spec["env_id"], module.hparams.eval_episodes)
        evaluate = clock.timed(evaluate_episodes, lambda: module.env_steps)
        evaluate(module.evaluation_actions, eval_env, seed=seed + EVAL_SEED_OFFSET)
        eval_env.close()
    solved = next((p for p in clock.curve if p["return_mean"] >= spec["threshold"]), None)
    hp = module.hparams
    return {
        "env": env, "variant": variant, "seed": seed, "env_id": spec["env_id"], "threshold": spec["threshold"],
        "total_env_steps": hp.total_env_steps, "eval_interval": eval_interval, "eval_episodes": hp.eval_episodes,
        "stop_when_solved": stop_when_solved, "overrides": overrides,
        "env_steps": int(module.env_steps),
        "train_seconds": round(train_seconds, 3),
        "eval_seconds": round(clock.eval_seconds, 3),
        "env_steps_per_sec": round(module.env_steps / train_seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 3),
        "solved_env_steps": solved["env_steps"] if solved else None,
        "solved_train_seconds": solved["train_seconds"] if solved else None,
        "solved_train_cpu_seconds": solved["train_cpu_seconds"] if solved else None,
        "final_return": clock.curve[-1]["return_mean"],
        "curve": clock.curve,
    }  # fmt: skip


def run_all(jobs: list[tuple], workers: int) -> Iterator[dict[str, Any]]:
    """``run_one(*job)`` for every job, ``workers`` at a time (fresh spawned processes), as they finish."""
    if workers == 1:
        for job in jobs:
            yield run_one(*job)
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, max_tasks_per_child=1)
    try:
        for future in as_completed([pool.submit(run_one, *job) for job in jobs]):
            yield future.result()
    finally:
        pool.shutdown(cancel_futures=True)  # on an error, the queued runs do not start


# -------------------------------------------------------------------------------------- results
def ordered(runs: list[dict[str, Any]], key: str, order: list[str]) -> list[str]:
    present = {r[key] for r in runs}
    return [name for name in order if name in present] + sorted(present - set(order))


def median_all_seeds(rows: list[dict[str, Any]]) -> float | None:
    """Median env steps to the threshold over all seeds, a seed that never reached it counting as infinite."""
    steps = [float("inf") if r["solved_env_steps"] is None else r["solved_env_steps"] for r in rows]
    value = statistics.median_low(steps)  # an even count: the lower middle value, a seed's own
    return None if value == float("inf") else value


def settings(runs: list[dict[str, Any]], key: str) -> str:
    """A setting of the runs, every value present joined by " / " (merged reports may mix them)."""
    return " / ".join(f"{value:,}" for value in sorted({r[key] for r in runs}))


def table(payload: dict[str, Any]) -> str:
    runs = payload["runs"]
    seeds = sorted({r["seed"] for r in runs})
    lines = [
        f"lit_rl.DQN variants, seeds {', '.join(map(str, seeds))}; greedy evaluation every `eval_interval` env "
        f"steps; training wall-clock and CPU seconds exclude evaluation ({payload.get('jobs', 1)} run(s) at a "
        "time, one torch thread each). Steps/seconds to the threshold: median (min–max) over the seeds that "
        "reached it; \"median, all seeds\" counts a seed that never reached it as infinite (— when that is "
        "the median). Final return: the last evaluation"
        + (", which is the first to reach the threshold when the run stopped there." if payload.get(
            "stop_when_solved") else "."),
    ]  # fmt: skip
    for env in ordered(runs, "env", list(ENVS)):
        env_runs = [r for r in runs if r["env"] == env]
        first = env_runs[0]
        threshold = f"≥{first['threshold']:g}"
        lines += [
            "",
            f"**{first['env_id']}** (`configs/{ENVS.get(env, {}).get('config', '?')}`; budget "
            f"{settings(env_runs, 'total_env_steps')} env steps; {settings(env_runs, 'eval_episodes')} evaluation "
            f"episodes every {settings(env_runs, 'eval_interval')} env steps; threshold {threshold})",
            "",
            f"| variant | reached {threshold} | env steps to {threshold}, median, all seeds "
            f"| env steps to {threshold} | per seed (in seed order) | wall-clock to {threshold} (s) "
            f"| CPU-s to {threshold} | final eval return | env steps/s (training) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for variant in ordered(env_runs, "variant", list(VARIANTS)):
            rows = sorted((r for r in env_runs if r["variant"] == variant), key=lambda r: r["seed"])
            reached = [r["solved_env_steps"] for r in rows]
            per_seed = " · ".join("—" if steps is None else f"{steps:,}" for steps in reached)
            all_seeds = median_all_seeds(rows)
            lines.append(
                f"| {variant} | {sum(s is not None for s in reached)}/{len(rows)} "
                f"| {'—' if all_seeds is None else f'{all_seeds:,}'} | {spread(reached)} | {per_seed} "
                f"| {spread([r['solved_train_seconds'] for r in rows], '{:.1f}')} "
                f"| {spread([r['solved_train_cpu_seconds'] for r in rows], '{:.1f}')} "
                f"| {spread([r['final_return'] for r in rows], '{:.1f}')} "
                f"| {spread([r['env_steps_per_sec'] for r in rows])} |"
            )
    lines += ["", machine_line(payload["machine"])]
    return "\n".join(lines)


def plot(payload: dict[str, Any], path: Path) -> None:
    """Env steps to the threshold per variant and seed (one panel per env); seeds that never reached it on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    runs = payload["runs"]
    envs = ordered(runs, "env", list(ENVS))
    seeds = sorted({r["seed"] for r in runs})
    fig, axes = plt.subplots(1, len(envs), figsize=(6.5 * len(envs), 4.5), squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        env_runs = [r for r in runs if r["env"] == env]
        variants = ordered(env_runs, "variant", list(VARIANTS))
        budget = max(r["total_env_steps"] for r in env_runs)
        top = budget * 1.08  # where "not reached" is drawn
        for x, variant in enumerate(variants):
            rows = [r for r in env_runs if r["variant"] == variant]
            for r in rows:
                dx = (seeds.index(r["seed"]) - (len(seeds) - 1) / 2) * 0.08
                if r["solved_env_steps"] is None:
                    ax.plot(x + dx, top, "x", color="tab:red", markersize=6)
                else:
                    ax.plot(x + dx, r["solved_env_steps"], "o", color="tab:blue", markersize=5, alpha=0.8)
            middle = median_all_seeds(rows)
            if middle is not None:
                ax.hlines(middle, x - 0.3, x + 0.3, color="black", lw=2)
        ax.axhline(budget, color="grey", lw=0.8, ls=":")
        threshold = env_runs[0]["threshold"]
        ax.set_xticks(range(len(variants)), variants, rotation=30, ha="right")
        ticks = [t for t in MaxNLocator(6).tick_values(0, budget) if t <= budget]
        ax.set_yticks([*ticks, top], [f"{t:,.0f}" for t in ticks] + ["not reached"])
        ax.set(title=f"{env_runs[0]['env_id']}: env steps to greedy eval ≥ {threshold:g}", ylabel="env steps",
               ylim=(0, budget * 1.15))  # fmt: skip
    fig.suptitle(f"dots: seeds {', '.join(map(str, seeds))} (left to right); bars: median over all seeds; "
                 "dotted: the budget", fontsize=9)  # fmt: skip
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument(
        "--eval-interval", type=int, default=None,
        help="env steps between greedy evaluations (default: 2,500 on CartPole-v1, 5,000 on Acrobot-v1)",
    )  # fmt: skip
    parser.add_argument(
        "--stop-when-solved", action=argparse.BooleanOptionalAction, default=True,
        help="end a run at its first evaluation that reaches the threshold",
    )  # fmt: skip
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time, one process and torch thread each")
    parser.add_argument("--total-env-steps", type=int, default=None, help="override the configs' (smoke runs)")
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "rainbow_components.json", help="JSON; the PNG goes beside it"
    )
    parser.add_argument(
        "--report", type=Path, nargs="+", default=None,
        help="no runs: print the table of these JSON files (merged into --out) and plot it",
    )  # fmt: skip
    args = parser.parse_args()
    if args.report:
        payload = merge_reports(args.report, args.out)
        print(table(payload))
        plot(payload, args.out.with_suffix(".png"))
        return

    quiet()
    set_torch_threads(1)
    import lit_rl.algorithms.dqn  # noqa: F401  import the package once, at the start: see snapshot_config

    config_folder = tempfile.mkdtemp(prefix="lit_rl_bench_configs_")
    configs = {env: snapshot_config(ENVS[env]["config"], config_folder) for env in args.envs}
    extra = {} if args.total_env_steps is None else {"total_env_steps": args.total_env_steps}
    payload = {
        "benchmark": "rainbow_components", "machine": machine(), "seeds": args.seeds, "jobs": args.jobs,
        "stop_when_solved": args.stop_when_solved, "extra_overrides": extra,
        "variants": {variant: VARIANTS[variant] for variant in args.variants},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": [],
        "configs": {env: configs[env].read_text() for env in args.envs},
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="lit_rl_bench_") as root:
        jobs = [
            (env, variant, seed, args.eval_interval or ENVS[env]["eval_interval"], args.stop_when_solved,
             configs[env], extra, root)
            for seed in args.seeds for env in args.envs for variant in args.variants
        ]  # fmt: skip
        for result in run_all(jobs, args.jobs):
            payload["runs"].append(result)
            write_json(args.out, payload)  # partial results survive an interrupted run
            print(
                f"{result['env']:8s} {result['variant']:12s} seed {result['seed']}: {result['env_steps']} env steps "
                f"in {result['train_seconds']:.1f} s ({result['env_steps_per_sec']:.0f}/s), threshold at "
                f"{result['solved_env_steps']} steps / {result['solved_train_seconds']} s, "
                f"final {result['final_return']:.1f}",
                flush=True,
            )
    print()
    print(table(payload))
    plot(payload, args.out.with_suffix(".png"))


if __name__ == "__main__":
    main_benchmark()
