"""Train one on-policy config over several seeds; print the final greedy score, env steps and time.

    python benchmarks/ppo_seeds.py configs/ppo_cartpole.yaml --seeds 1 2 3 [-- extra CLI args]

Prints one JSON line per seed: final ``eval/episodic_return`` (and std), env steps taken, wall
seconds of the whole ``fit`` (env creation and evaluations included), env steps per wall second,
and the last logged ``perf/env_steps_per_sec`` (training only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import torch

from lit_rl.cli import main


def run(config: str, seed: int, extra: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        cli = main([
            "fit", "--config", config, "--seed_everything", str(seed), "--trainer.default_root_dir", root,
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", *extra,
        ])
        wall = time.perf_counter() - start
    metrics = cli.trainer.callback_metrics
    env_steps = cli.model.env_steps
    return {
        "config": config,
        "seed": seed,
        "eval_return": round(float(metrics["eval/episodic_return"]), 1),
        "eval_return_std": round(float(metrics["eval/episodic_return_std"]), 1),
        "env_steps": env_steps,
        "wall_s": round(wall, 1),
        "env_steps_per_s": round(env_steps / wall),
        # The collector's own clock between its last two logs: training throughput without startup or eval.
        "logged_env_steps_per_s": round(float(metrics.get("perf/env_steps_per_sec", float("nan")))),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    argv, extra = sys.argv[1:], []
    if "--" in argv:  # everything after -- goes to the LightningCLI
        argv, extra = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    args = parser.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # lit_rl's CpuThreads follows it
    torch.set_num_threads(args.threads)
    for seed in args.seeds:
        print(json.dumps(run(args.config, seed, extra)), flush=True)
