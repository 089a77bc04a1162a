"""A learning curve from a run's TensorBoard logs: CSV, PNG and the milestones, against env steps and wall-clock.

Reads ``rollout/episodic_return`` (whole-game, unclipped training scores), ``eval/episodic_return`` and
``rollout/env_steps`` from the event files of one run, or of a run and its resumptions (``--ckpt_path
last`` starts a new ``version_N`` folder: give the folders in order). Wall-clock is training time:
seconds since each event file was opened, added up over the files, so the hours between two sessions
do not count. Evaluations are placed at the env-step count logged nearest before them.

Milestones are the first env step and wall-clock at which the mean of the last ``--window`` logged
training returns reaches each threshold (a logged return is itself the mean of the games that finished
since the previous log).

    python benchmarks/learning_curve.py /root/lit_rl_runs/ppo_pong/lightning_logs/version_0 \\
        --out benchmarks/results/ppo_pong_cpu --title "PPO, PongNoFrameskip-v4, 2 CPU cores"
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

TAGS = ("rollout/episodic_return", "rollout/env_steps", "eval/episodic_return", "eval/episodic_return_std")
THRESHOLDS = (-15.0, 0.0, 15.0, 18.0)
EVAL_THRESHOLDS = (0.0, 18.0, 20.0)


def read_scalars(event_file: Path) -> tuple[dict[str, list[tuple[int, float, float]]], float]:
    """``{tag: [(step, wall_time, value), ...]}`` for ``TAGS``, and the time the file was opened."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    series: dict[str, list[tuple[int, float, float]]] = {tag: [] for tag in TAGS}
    opened = None
    for event in EventFileLoader(str(event_file)).Load():
        opened = event.wall_time if opened is None else opened  # the first event marks the file's creation
        for value in event.summary.value:
            if value.tag in series:
                number = (
                    value.simple_value
                    if value.HasField("simple_value")
                    else float(
                        np.frombuffer(value.tensor.tensor_content, dtype=np.float32)[0]
                        if value.tensor.tensor_content
                        else value.tensor.float_val[0]
                    )
                )
                series[value.tag].append((event.step, event.wall_time, number))
    if opened is None:
        raise SystemExit(f"{event_file} holds no events")
    return series, opened


def env_steps_at(clock: list[tuple[int, float, float]], step: int) -> float:
    """The env-step count logged at or before logger step ``step`` (``clock``: ``rollout/env_steps``)."""
    index = max(0, int(np.searchsorted([s for s, _, _ in clock], step, side="right")) - 1)
    return float(clock[index][2])


def curve(run_dirs: list[Path]) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Training and evaluation rows ``{env_steps, wall_clock_s, return[, return_std]}`` over all runs."""
    train, evaluation = [], []
    offset = 0.0  # training seconds of the earlier files
    for run_dir in run_dirs:
        files = sorted(run_dir.glob("events.out.tfevents.*")) if run_dir.is_dir() else [run_dir]
        if not files:
            raise SystemExit(f"no events.out.tfevents.* file in {run_dir}")
        for event_file in files:
            series, opened = read_scalars(event_file)
            clock = series["rollout/env_steps"]
            if not clock:
                continue
            stds = {step: value for step, _, value in series["eval/episodic_return_std"]}
            for step, wall, value in series["rollout/episodic_return"]:
                train.append({"env_steps": env_steps_at(clock, step), "wall_clock_s": offset + wall - opened,
                              "return": value})  # fmt: skip
            for step, wall, value in series["eval/episodic_return"]:
                evaluation.append({"env_steps": env_steps_at(clock, step), "wall_clock_s": offset + wall - opened,
                                   "return": value, "return_std": stds.get(step, float("nan"))})  # fmt: skip
            offset += max(wall for tag in TAGS for _, wall, _ in series[tag]) - opened
    return train, evaluation


def milestones(train: list[dict], evaluation: list[dict], window: int) -> dict[str, dict[str, float] | None]:
    """First (env steps, wall-clock) where the mean of the last ``window`` training returns, and where a
    greedy evaluation, reaches each threshold."""
    returns = np.array([row["return"] for row in train])
    smooth = [returns[max(0, i - window + 1) : i + 1].mean() for i in range(len(returns))]
    found: dict[str, dict[str, float] | None] = {}
    scores = [row["return"] for row in evaluation]
    for kind, rows, values, thresholds in (("train", train, smooth, THRESHOLDS),
                                           ("eval", evaluation, scores, EVAL_THRESHOLDS)):  # fmt: skip
        for threshold in thresholds:
            first = next((row for row, value in zip(rows, values, strict=True) if value >= threshold), None)
            found[f"{kind} {threshold:+g}"] = first and {
                "env_steps": first["env_steps"],
                "wall_clock_min": round(first["wall_clock_s"] / 60, 2),
            }
    return found


def write_outputs(out: Path, title: str, train: list[dict], evaluation: list[dict], found: dict, window: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["kind", "env_steps", "wall_clock_s", "return", "return_std"])
        for kind, rows in (("train", train), ("eval", evaluation)):
            for row in rows:
                writer.writerow([kind, int(row["env_steps"]), round(row["wall_clock_s"], 1), row["return"],
                                 row.get("return_std", "")])  # fmt: skip
    out.with_suffix(".json").write_text(json.dumps({"title": title, "window": window, "milestones": found}, indent=2))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    returns = np.array([row["return"] for row in train])
    smooth = np.array([returns[max(0, i - window + 1) : i + 1].mean() for i in range(len(returns))])
    for ax, key, scale, label in ((axes[0], "env_steps", 1e6, "env steps (millions)"),
                                  (axes[1], "wall_clock_s", 60, "wall-clock (minutes)")):  # fmt: skip
        x = np.array([row[key] for row in train]) / scale
        ax.plot(x, returns, color="tab:blue", alpha=0.25, linewidth=0.8)
        ax.plot(x, smooth, color="tab:blue", label=f"training return (mean of last {window} logs)")
        if evaluation:
            ex = np.array([row[key] for row in evaluation]) / scale
            ey = np.array([row["return"] for row in evaluation])
            es = np.array([row["return_std"] for row in evaluation])
            ax.errorbar(ex, ey, yerr=es, color="tab:red", marker="o", markersize=4, capsize=2,
                        label="evaluation games (mean ± std)")  # fmt: skip
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("score (whole game, unclipped)")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=110)


def frame_strip(video: Path, out: Path, frames: int = 6) -> None:
    """``frames`` evenly spaced frames of an evaluation video side by side, as a PNG, and the video beside it."""
    import shutil

    import cv2

    capture = cv2.VideoCapture(str(video))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    images = []
    for index in np.linspace(0, total - 1, frames).astype(int):
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, image = capture.read()
        if ok:
            images.append(cv2.copyMakeBorder(image, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=(255, 255, 255)))
    capture.release()
    if not images:
        raise SystemExit(f"no frame could be read from {video}")
    cv2.imwrite(str(out.with_name(out.name + "_eval_frames.png")), np.hstack(images))
    shutil.copyfile(video, out.with_name(out.name + "_eval.mp4"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", help="version_N folders (or event files), oldest first")
    parser.add_argument("--out", type=Path, required=True, help="path without suffix: .csv, .png and .json are written")
    parser.add_argument("--title", default="")
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--video", type=Path, default=None, help="an evaluation .mp4: copied, and 6 frames as a PNG")
    args = parser.parse_args()
    train, evaluation = curve(args.runs)
    if not train:
        raise SystemExit(f"{args.runs}: no rollout/episodic_return logged yet (no game finished)")
    found = milestones(train, evaluation, args.window)
    last = train[-1]
    found["end"] = {"env_steps": last["env_steps"], "wall_clock_min": round(last["wall_clock_s"] / 60, 2),
                    "env_steps_per_sec": round(last["env_steps"] / last["wall_clock_s"], 1)}  # fmt: skip
    write_outputs(args.out, args.title, train, evaluation, found, args.window)
    if args.video:
        frame_strip(args.video, args.out)
    print(
        f"{len(train)} training logs, {len(evaluation)} evaluations; last env step {last['env_steps']:,.0f} at "
        f"{last['wall_clock_s'] / 60:.1f} min ({found['end']['env_steps_per_sec']:,.0f} env steps/s, "
        "evaluation included)"
    )
    for name, where in found.items():
        if name != "end":
            text = (
                "not reached"
                if where is None
                else f"{where['env_steps']:,.0f} env steps, {where['wall_clock_min']:.1f} min"
            )
            print(f"{name}: {text}")
    for row in evaluation:
        print(f"eval at {row['env_steps']:,.0f} env steps, {row['wall_clock_s'] / 60:.1f} min: "
              f"{row['return']:.1f} ± {row['return_std']:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
