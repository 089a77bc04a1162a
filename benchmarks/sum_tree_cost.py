"""Prioritized replay's cost per Pong gradient step, against the gradient step itself.

Shapes of ``configs/dqn_pong.yaml``: 1M transitions in a ``FrameReplayBuffer`` of 4 envs, batch 32,
one vector step (4 env steps) per gradient step. Each row is a median per gradient step:

- ``sum tree: sample``: stratified targets, ``SumTree.find``, the probabilities and ``importance_weights``
  of 32 transitions, over 1M leaves;
- ``sum tree: update``: ``(|td| + eps) ** alpha`` and ``SumTree.update`` of 32 priorities;
- ``PrioritizedReplayBuffer, whole round``: ``sample(32)`` + ``update_priorities`` + ``add`` of one vector
  step on a ``PrioritizedReplayBuffer`` over a 1M-slot ``FrameReplayBuffer``, minus the same round of
  uniform replay (``sample(32)`` + ``add``) on the same buffer: all that prioritization adds to a round
  (the frames are 1 pixel, so that gathering, which both pay alike, does not blur the difference);
- ``DQN gradient step``: the Nature CNN at batch 32 on uint8 4x84x84 frames: online forward, target
  forward, Huber loss, backward and fused Adam (``dqn_pong.yaml``'s step, without env or replay), under
  the precision ``auto_cpu_precision`` picks (``bf16-mixed`` autocast on CPUs with native bf16).

Each case runs ``--steps`` times per round, ``--rounds`` rounds, the cases interleaved within each round;
wall-clock and CPU seconds (``time.process_time``) are both given. One torch thread by default.

    PYTHONPATH=. nice -n 19 python benchmarks/sum_tree_cost.py      # ~1 min
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import RESULTS, machine, machine_line, set_torch_threads  # noqa: E402

from lit_rl.cpu import cpu_precision  # noqa: E402
from lit_rl.frame_replay_buffer import FrameReplayBuffer  # noqa: E402
from lit_rl.networks.nature_cnn import NatureCNN  # noqa: E402
from lit_rl.prioritized_replay import PrioritizedReplayBuffer, importance_weights  # noqa: E402
from lit_rl.sum_tree import SumTree  # noqa: E402

CAPACITY, NUM_ENVS, BATCH, STACK = 1_000_000, 4, 32, 4
ALPHA, BETA, EPS = 0.5, 0.4, 1e-6


def timed(function: Callable[[], object], steps: int) -> tuple[float, float]:
    """Milliseconds per call of ``function``: wall-clock and CPU."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        function()
    return (time.perf_counter() - wall) * 1e3 / steps, (time.process_time() - cpu) * 1e3 / steps


def full_frame_buffer(rng: np.random.Generator) -> FrameReplayBuffer:
    """A 1M-slot ``FrameReplayBuffer`` of 1-pixel frames whose rings have wrapped, with episode starts."""
    buffer = FrameReplayBuffer(CAPACITY, (STACK, 1, 1), NUM_ENVS, seed=0)
    buffer.frames[:] = rng.integers(0, 255, size=buffer.frames.shape, dtype=np.uint8)
    buffer.has_transition[:] = rng.random(buffer.has_transition.shape) > 0.01  # ~1% first-stack frames
    buffer.written[:] = 3 * buffer.slots + np.arange(NUM_ENVS)
    buffer.size = int(buffer.is_sampleable(np.arange(buffer.num_indices)).sum())
    return buffer


def one_vector_step(buffer: FrameReplayBuffer, rng: np.random.Generator) -> tuple:
    """``add``'s arguments for one vector step that continues each env's stored stack."""
    newest = (buffer.written[:, None] + np.arange(-STACK, 0)) % buffer.slots
    obs = buffer.frames[np.arange(NUM_ENVS)[:, None], newest]
    next_obs = np.concatenate([obs[:, 1:], rng.integers(0, 255, (NUM_ENVS, 1, 1, 1), dtype=np.uint8)], axis=1)
    flags = np.zeros(NUM_ENVS, dtype=bool)
    return obs, rng.integers(0, 6, NUM_ENVS), np.zeros(NUM_ENVS, np.float32), next_obs, flags, flags


def cases(rng: np.random.Generator, precision: str) -> dict[str, Callable[[], object]]:
    tree = SumTree(CAPACITY)
    tree.rebuild(rng.exponential(size=CAPACITY) ** ALPHA)

    def tree_sample():
        segments = rng.permutation(BATCH) + rng.random(BATCH)
        indices = tree.find(segments * (tree.total / BATCH))
        return indices, importance_weights(tree.get(indices) / tree.total, CAPACITY, BETA)

    def tree_update():
        tree.update(rng.integers(0, CAPACITY, BATCH), (np.abs(rng.normal(size=BATCH)) + EPS) ** ALPHA)

    storage = full_frame_buffer(rng)
    prioritized = PrioritizedReplayBuffer(storage, ALPHA, BETA, EPS)
    prioritized.update_priorities(np.arange(storage.num_indices), rng.exponential(size=storage.num_indices))

    def prioritized_round():
        step = one_vector_step(storage, rng)
        batch = prioritized.sample(BATCH)
        prioritized.update_priorities(batch.indices, rng.normal(size=BATCH))
        prioritized.add(*step)

    def uniform_round():
        step = one_vector_step(storage, rng)
        storage.sample(BATCH)
        storage.add(*step)

    online = NatureCNN(STACK, 6, 84, 84)
    target = NatureCNN(STACK, 6, 84, 84).requires_grad_(False)
    optimizer = torch.optim.Adam(online.parameters(), lr=1e-4, fused=True)
    obs = torch.randint(0, 255, (BATCH, STACK, 84, 84), dtype=torch.uint8)
    actions = torch.randint(0, 6, (BATCH,))

    def gradient_step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
            with torch.no_grad():
                targets = 0.99 * target(obs).float().max(dim=1).values
            q_taken = online(obs).float().gather(1, actions[:, None]).squeeze(1)
        loss = torch.nn.functional.smooth_l1_loss(q_taken, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return {
        "sum tree: sample": tree_sample,
        "sum tree: update": tree_update,
        "prioritized round": prioritized_round,
        "uniform round": uniform_round,
        "DQN gradient step": gradient_step,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="calls per case and round (gradient steps: / 50)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the gradient step")
    parser.add_argument("--precision", default=cpu_precision(), choices=["32-true", "bf16-mixed"])
    parser.add_argument("--output", type=Path, default=RESULTS / "sum_tree_cost.json")
    args = parser.parse_args()
    set_torch_threads(args.threads)
    info = machine() | {"precision": args.precision}
    print(f"{machine_line(info)}, {args.precision}", flush=True)
    rng = np.random.default_rng(0)
    functions = cases(rng, args.precision)
    for function in functions.values():  # warm-up: caches, allocator, the first fused-Adam call
        timed(function, 3)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in functions}
    for round_ in range(args.rounds):
        for name, function in functions.items():
            steps = max(1, args.steps // 50) if name == "DQN gradient step" else args.steps
            times[name].append(timed(function, steps))
        print(f"round {round_ + 1}: " + ", ".join(f"{n} {t[-1][0]:.3f} ms" for n, t in times.items()), flush=True)
    medians = {name: [statistics.median(t[k] for t in values) for k in (0, 1)] for name, values in times.items()}
    step = medians["DQN gradient step"]
    tree = [medians["sum tree: sample"][k] + medians["sum tree: update"][k] for k in (0, 1)]
    added = [medians["prioritized round"][k] - medians["uniform round"][k] for k in (0, 1)]
    rows = [
        ("sum tree: sample (find + weights)", medians["sum tree: sample"]),
        ("sum tree: update", medians["sum tree: update"]),
        ("**sum tree: sample + update**", tree),
        ("PrioritizedReplayBuffer round (sample + update_priorities + add)", medians["prioritized round"]),
        ("uniform FrameReplayBuffer round (sample + add)", medians["uniform round"]),
        ("**prioritization's extra cost per round**", added),
        (f"DQN gradient step (Nature CNN, batch 32, {args.precision})", step),
    ]
    print(f"\n{machine_line(info)}, {args.precision}; load average at end {os.getloadavg()[0]:.2f}")
    print(f"median of {args.rounds} rounds, ms per gradient step (1M capacity, batch 32, 4 envs)\n")
    print("| | ms (wall) | ms (CPU) | share of the DQN step (wall) | share (CPU) |")
    print("|---|---|---|---|---|")
    for label, (wall, cpu) in rows:
        print(f"| {label} | {wall:.3f} | {cpu:.3f} | {wall / step[0]:.1%} | {cpu / step[1]:.1%} |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": info,
        "load_average_at_end": os.getloadavg(),
        "rounds": {name: [{"wall_ms": w, "cpu_ms": c} for w, c in values] for name, values in times.items()},
        "median_ms": {label: {"wall": wall, "cpu": cpu} for label, (wall, cpu) in rows},
    }
    args.output.write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
