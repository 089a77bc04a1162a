"""Helpers shared by the benchmark scripts: machine description, statistics, timed evaluation."""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
RESULTS = ROOT / "benchmarks" / "results"
# What lit_rl changes in a config to run SB3's algorithm: SB3's DQN has no Double-DQN target (one forward pass
# fewer per gradient step); PPO is the same algorithm in both.
MATCHED_TO_SB3: dict[str, dict[str, Any]] = {"dqn": {"double_dqn": False}, "ppo": {}}


def set_torch_threads(threads: int | None) -> None:
    """``threads`` torch threads for this process and the lit_rl runs in it (``None``: lit_rl's own choice)."""
    if threads is not None:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(threads)  # what lit_rl.CpuThreads follows
        torch.set_num_threads(threads)


def quiet() -> None:
    """Silence Lightning's and the libraries' informational warnings (they flood the tables)."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """The machine and library versions a table was measured with."""
    import lightning
    import torch

    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "lightning": lightning.__version__,
    }
    try:
        import stable_baselines3

        info["stable_baselines3"] = stable_baselines3.__version__
    except ImportError:
        info["stable_baselines3"] = None
    import gymnasium

    info["gymnasium"] = gymnasium.__version__
    return info


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"Machine: {info['cpu']}, {info['cores']} cores (load average at start "
        f"{info['load_average_at_start'][0]}), torch {info['torch']} ({info['torch_threads']} thread), "
        f"lightning {info['lightning']}, stable-baselines3 {info['stable_baselines3']}, "
        f"gymnasium {info['gymnasium']}, Python {info['python']}"
    )


def spread(values: Sequence[float | None], fmt: str = "{:,.0f}") -> str:
    """``median (min–max)`` of the values that are not None; ``—`` when there are none."""
    present = [v for v in values if v is not None]
    if not present:
        return "—"
    if len(present) == 1:
        return fmt.format(present[0])
    return f"{fmt.format(statistics.median(present))} ({fmt.format(min(present))}–{fmt.format(max(present))})"


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


class EvalClock:
    """Times every evaluation, so that training wall-clock can exclude it, and records the curve.

    ``evaluate(policy, env, seed, env_steps)`` plays the episodes with
    ``lit_rl.evaluation.evaluate_episodes`` (one greedy episode in each sub-environment), the same
    function and the same episode seeds for every framework.
    """

    def __init__(self) -> None:
        self.curve: list[dict[str, float]] = []
        self.restart()

    def restart(self) -> None:
        self.start, self.cpu_start = time.perf_counter(), time.process_time()
        self.eval_seconds = self.eval_cpu_seconds = 0.0

    def train_seconds(self) -> float:
        return time.perf_counter() - self.start - self.eval_seconds

    def train_cpu_seconds(self) -> float:
        """CPU time of this process (all its threads) outside evaluation: less sensitive to other jobs."""
        return time.process_time() - self.cpu_start - self.eval_cpu_seconds

    def timed(self, evaluate: Callable, env_steps: Callable[[], int]) -> Callable:
        """Wrap an ``evaluate_episodes``-like function: time it, and record the mean return."""

        def wrapper(*args: Any, **kwargs: Any):
            begin, cpu_begin = time.perf_counter(), time.process_time()
            returns, lengths = evaluate(*args, **kwargs)
            self.eval_seconds += time.perf_counter() - begin
            self.eval_cpu_seconds += time.process_time() - cpu_begin
            self.curve.append({
                "env_steps": int(env_steps()),
                "train_seconds": round(self.train_seconds(), 3),
                "train_cpu_seconds": round(self.train_cpu_seconds(), 3),
                "return_mean": float(np.mean(returns)),
                "return_std": float(np.std(returns)),
            })  # fmt: skip
            return returns, lengths

        return wrapper


def snapshot_config(name: str | Path, folder: str | Path) -> Path:
    """Copy the config ``name`` (a path, or a file name in ``configs/``) into ``folder``; return the copy.

    A benchmark reads its configs once, at its start: a config edited while it runs (the working
    tree is shared) must not change the settings halfway through a series of runs.
    """
    source = Path(name) if Path(name).is_file() else CONFIGS / name
    copy = Path(folder) / source.name
    copy.write_text(source.read_text())
    return copy


class patch_evaluation:  # noqa: N801  (a context manager used like a function)
    """Replace ``evaluate_episodes`` in every loaded ``lit_rl`` module by ``replacement`` (and restore it).

    lit_rl's modules import the function by name, and which module calls it has moved between
    versions (``algorithms/dqn.py``, ``algorithms/common.py``, ...): patch every module that holds it.
    """

    def __init__(self, replacement: Callable) -> None:
        import sys

        from lit_rl.evaluation import evaluate_episodes

        self.replacement, self.original = replacement, evaluate_episodes
        self.modules = [
            module
            for name, module in list(sys.modules.items())
            if name.startswith("lit_rl") and getattr(module, "evaluate_episodes", None) is evaluate_episodes
        ]
        if not self.modules:
            raise RuntimeError("no lit_rl module calls evaluate_episodes: evaluation time cannot be excluded")

    def __enter__(self) -> None:
        for module in self.modules:
            module.evaluate_episodes = self.replacement

    def __exit__(self, *exc: object) -> None:
        for module in self.modules:
            module.evaluate_episodes = self.original


def optimizer_from_config(model_args: dict[str, Any]) -> tuple[type, dict[str, Any]]:
    """The optimizer class and its keyword arguments, as the YAML gives them (default: Adam)."""
    spec = model_args.get("optimizer", "torch.optim.Adam")
    path, kwargs = (spec, {}) if isinstance(spec, str) else (spec["class_path"], dict(spec.get("init_args", {})))
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name), kwargs


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write to a temporary name, then rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)


def merge_reports(paths: Sequence[Path], out: Path) -> dict[str, Any]:
    """Merge the JSON results of several runs of one script (e.g. DQN and PPO measured side by side).

    With more than one file, the merged payload is written to ``out``.
    """
    payloads = [json.loads(Path(path).read_text()) for path in paths]
    payload = payloads[0]
    for other in payloads[1:]:
        payload["runs"] += other["runs"]
        if "algos" in payload:
            payload["algos"] += [a for a in other.get("algos", []) if a not in payload["algos"]]
        if "configs" in other:
            payload.setdefault("configs", {}).update(other["configs"])
    if len(payloads) > 1:
        payload["merged_from"] = [str(path) for path in paths]
        write_json(out, payload)
    return payload


def lit_rl_cli(config: Path, seed: int, root: str, model_args: dict[str, Any], *trainer_args: str) -> Any:
    """lit_rl's ``LightningCLI`` on ``config``, not yet fitted, as the benchmarks run it.

    No checkpoints (the peers write none), progress bar or model summary; the config's TensorBoard
    logger stays unless ``trainer_args`` say otherwise. ``model_args`` override the config's.
    """
    from lit_rl.cli import main

    return main([
        "--config", str(config), "--seed_everything", str(seed),
        *[arg for name, value in model_args.items() for arg in (f"--model.init_args.{name}", str(value))],
        "--trainer.callbacks", "[]", "--trainer.enable_checkpointing", "false",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.default_root_dir", root, *trainer_args,
    ], run=False)  # fmt: skip


def run_side_by_side(function: Callable[..., Any], jobs: Sequence[tuple]) -> list[Any]:
    """``function(*job)`` for every job at once, one fresh (spawned) process each, results in order.

    Runs that compare two loops then share the machine's slow and fast spells, which on a shared VM
    move single runs by 10-20%. ``function`` must be importable and set up its own globals.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=context, max_tasks_per_child=1) as pool:
        return [future.result() for future in [pool.submit(function, *job) for job in jobs]]


def run_group(function: Callable[..., dict[str, Any]], jobs: Sequence[tuple], pair: int) -> list[dict[str, Any]]:
    """One job in this process, or several side by side, their results tagged ``"pair": pair``."""
    if len(jobs) == 1:
        return [function(*jobs[0])]
    return [{**result, "pair": pair} for result in run_side_by_side(function, jobs)]
