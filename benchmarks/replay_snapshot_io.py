"""Replay snapshots of a Pong FrameReplayBuffer: write time, read time and file size, format by format.

The frames are real: a FrameReplayBuffer of the smallest capacity is filled by playing
PongNoFrameskip-v4 with uniformly random actions (``dqn_pong.yaml``'s env: ale-py's native vector env,
4 envs, 84x84 grayscale 4-frame stacks). Larger buffers repeat that ring (a 1M ring repeats a 100k one
10 times, 176 MB apart: far beyond deflate's 32 kB window, so the repeats do not compress better).
A ring "filled 25%" is the same ring with its write counters set to a quarter of its slots, as at
``dqn_pong.yaml``'s first checkpoint (250k transitions).

Formats, each written as ``ReplaySnapshot`` does (temporary name, flush, fsync, rename):

- ``np.savez, whole ring``: the format before this change (stored, every slot, filled or not);
- ``np.savez, filled part``: stored, the slots written so far (``FrameReplayBuffer.state_dict()``);
- ``np.savez_compressed``: deflate at zlib level 6, the filled part;
- ``write_snapshot (zlib 1)``: deflate at zlib level 1, the filled part (what ``ReplaySnapshot`` writes).

Reading is the resume path: ``np.load(allow_pickle=False)`` and ``load_state_dict`` into a new buffer,
from a cold cache (the file's pages are dropped with ``posix_fadvise`` after writing). Each time is
given as wall-clock and as this process's CPU seconds: on a busy machine the wall-clock follows the
other jobs, the CPU seconds much less. Files are deleted after each case.

    nice -n 19 ionice -c3 python benchmarks/replay_snapshot_io.py                # 100k and 1M
    python benchmarks/replay_snapshot_io.py --capacities 20000 --folder /tmp     # a quick look
    python benchmarks/replay_snapshot_io.py --from-snapshot RUN/checkpoints/replay-step=N-rank=0.npz

``--from-snapshot`` takes a training run's snapshot (either format) as the buffer instead: real
frames, as far as that run's ring had filled.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import RESULTS, machine, machine_line, spread  # noqa: E402

from lit_rl.callbacks.replay_snapshot import write_snapshot  # noqa: E402
from lit_rl.envs import make_vector_env  # noqa: E402
from lit_rl.frame_replay_buffer import STORAGE, FrameReplayBuffer  # noqa: E402

NUM_ENVS, SHAPE = 4, (4, 84, 84)
ENV_KWARGS = {"backend": "native", "reward_clipping": True, "episodic_life": True}


def play_pong(capacity: int, seed: int = 0) -> FrameReplayBuffer:
    """A buffer of ``capacity`` whose every env ring has wrapped, filled by random play."""
    env = make_vector_env("PongNoFrameskip-v4", NUM_ENVS, ENV_KWARGS)
    buffer = FrameReplayBuffer(capacity, SHAPE, NUM_ENVS, seed=seed)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    resetting = np.zeros(NUM_ENVS, dtype=bool)
    while buffer.written.min() < buffer.slots:
        actions = rng.integers(env.single_action_space.n, size=NUM_ENVS)
        next_obs, rewards, terminated, truncated, _ = env.step(actions)
        buffer.add(obs, actions, rewards, next_obs, terminated, truncated, valid=~resetting)
        obs, resetting = next_obs, terminated | truncated
    env.close()
    return buffer


def repeat_ring(source: FrameReplayBuffer, capacity: int, fraction: float) -> FrameReplayBuffer:
    """A buffer of ``capacity`` whose slots repeat ``source``'s, written up to ``fraction`` of its ring."""
    buffer = FrameReplayBuffer(capacity, SHAPE, NUM_ENVS)
    for start in range(0, buffer.slots, source.slots):
        count = min(source.slots, buffer.slots - start)
        for name in STORAGE:
            getattr(buffer, name)[:, start : start + count] = getattr(source, name)[:, :count]
    buffer.written[:] = max(int(buffer.slots * fraction), buffer.stack)
    if fraction < 1:  # the slots after the write counters are still zeros in a ring that is filling
        for name in STORAGE:
            getattr(buffer, name)[:, buffer.written.max() :] = 0
    buffer.size = int(buffer.has_transition[:, buffer.stack : buffer.written.max()].sum())
    return buffer


def whole_ring(buffer: FrameReplayBuffer) -> dict[str, np.ndarray]:
    """The state_dict of lit_rl before this change: every slot."""
    arrays = {name: getattr(buffer, name) for name in (*STORAGE, "written")}
    return arrays | {k: v for k, v in buffer.state_dict().items() if k not in arrays}


def savez_like_replay_snapshot(save: Callable) -> Callable:
    def write(path: Path, arrays: dict[str, np.ndarray]) -> None:
        temporary = path.with_name(f".{path.name}.tmp")
        with open(temporary, "wb") as file:
            save(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)

    return write


FORMATS = {
    "np.savez, whole ring": (savez_like_replay_snapshot(np.savez), whole_ring),
    "np.savez, filled part": (savez_like_replay_snapshot(np.savez), FrameReplayBuffer.state_dict),
    "np.savez_compressed (zlib 6)": (savez_like_replay_snapshot(np.savez_compressed), FrameReplayBuffer.state_dict),
    "write_snapshot (zlib 1)": (write_snapshot, FrameReplayBuffer.state_dict),
}


def timed(function: Callable, *args) -> tuple[object, float, float]:
    """``function(*args)``, its wall-clock seconds and this process's CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def drop_from_cache(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


def load(path: Path, capacity: int) -> FrameReplayBuffer:
    buffer = FrameReplayBuffer(capacity, SHAPE, NUM_ENVS)
    with np.load(path, allow_pickle=False) as snapshot:
        buffer.load_state_dict({k: snapshot[k] for k in snapshot.files if k != "global_step"})
    return buffer


def run_case(make_buffer: Callable[[], FrameReplayBuffer], label: str, folder: Path, repeat: int) -> list[dict]:
    """Write a new buffer in every format, free it, read every file back; the order rotates with ``repeat``."""
    buffer = make_buffer()
    capacity, filled = buffer.capacity, round(float(buffer.written.max() / buffer.slots), 3)
    rng = np.random.default_rng(1)
    probes = (rng.integers(NUM_ENVS, size=200), rng.integers(buffer.written.max(), size=200))
    expected = {"written": buffer.written.copy(), "size": len(buffer), "frames": buffer.frames[probes].copy()}
    names = list(FORMATS)
    names = names[repeat % len(names) :] + names[: repeat % len(names)]
    rows = {}
    for name in names:
        write, state_of = FORMATS[name]
        path = folder / f"replay-bench-{len(rows)}.npz"
        arrays = {"global_step": np.int64(0), **state_of(buffer)}
        _, wall, cpu = timed(write, path, arrays)
        drop_from_cache(path)  # the read below comes from the disk, as after a restart
        rows[name] = {
            "frames": label, "capacity": capacity, "filled": filled, "format": name, "repeat": repeat, "path": path,
            "bytes": path.stat().st_size, "write_s": round(wall, 2), "write_cpu_s": round(cpu, 2),
        }  # fmt: skip
    del buffer, arrays
    gc.collect()  # a repeated ring is freed here: reading needs its memory
    for name in names:
        row = rows[name]
        restored, wall, cpu = timed(load, row["path"], capacity)
        assert np.array_equal(restored.written, expected["written"]) and len(restored) == expected["size"]
        assert np.array_equal(restored.frames[probes], expected["frames"]), name
        del restored
        gc.collect()
        row.update(read_s=round(wall, 2), read_cpu_s=round(cpu, 2))
        row.pop("path").unlink()
        print(f"  {row}", flush=True)
    return [rows[name] for name in FORMATS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--capacities", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3, help="rounds per case; the format order rotates")
    parser.add_argument(
        "--from-snapshot", type=Path, help="instead: a training run's Pong snapshot (4 envs), as it is"
    )
    parser.add_argument("--folder", type=Path, default=Path.home() / "lit_rl_snapshot_bench")
    parser.add_argument("--output", type=Path, help="default: results/replay_snapshot_io[_training_run].json")
    args = parser.parse_args()
    name = "replay_snapshot_io_training_run" if args.from_snapshot else "replay_snapshot_io"
    args.output = args.output or RESULTS / f"{name}.json"
    args.folder.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(machine_line(info), flush=True)
    rows = []
    if args.from_snapshot:
        with np.load(args.from_snapshot, allow_pickle=False) as snapshot:
            capacity = int(snapshot["capacity"])
        for repeat in range(args.repeats):  # loaded anew each round: the reads need the memory it holds
            print(f"{args.from_snapshot}, round {repeat + 1}", flush=True)
            make = functools.partial(load, args.from_snapshot, capacity)
            rows += run_case(make, "a training run's", args.folder, repeat)
    else:
        start = time.perf_counter()
        source = play_pong(min(args.capacities))
        print(f"played {source.written.sum():,} Pong frames in {time.perf_counter() - start:.0f} s", flush=True)
        for capacity in sorted(args.capacities):
            for fraction in (1.0,) if capacity == source.capacity else (0.25, 1.0):
                for repeat in range(args.repeats):
                    print(f"capacity {capacity:,}, filled {fraction:.0%}, round {repeat + 1}", flush=True)
                    if capacity == source.capacity:
                        make = functools.partial(lambda buffer: buffer, source)
                    else:
                        make = functools.partial(repeat_ring, source, capacity, fraction)
                    rows += run_case(make, "random play", args.folder, repeat)
    try:
        args.folder.rmdir()  # empty: every case deleted its files
    except OSError:
        pass
    args.output.parent.mkdir(parents=True, exist_ok=True)
    results = {"machine": info, "load_average_at_end": os.getloadavg(), "rows": rows}
    args.output.write_text(json.dumps(results, indent=1))
    print(f"\n{machine_line(info)}; load average at end {os.getloadavg()[0]:.2f}")
    print("median (min–max) of the rounds\n")
    print("| frames | buffer | format | file | write s | write CPU s | read s | read CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    cases: dict[tuple, list[dict]] = {}
    for r in rows:
        cases.setdefault((r["frames"], r["capacity"], r["filled"], r["format"]), []).append(r)
    for (frames, capacity, filled, name), group in cases.items():
        keys = ("write_s", "write_cpu_s", "read_s", "read_cpu_s")
        times = " | ".join(spread([r[key] for r in group], "{:.1f}") for key in keys)
        size = group[0]["bytes"] / 1e6
        print(f"| {frames} | {capacity:,}, {filled:.0%} filled | {name} | {size:,.0f} MB | {times} |")


if __name__ == "__main__":
    main()
