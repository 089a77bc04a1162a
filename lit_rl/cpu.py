"""What this process may use of the CPU: its cores, its share of them, and native bf16 arithmetic.

Torch's intra-op threads and ale-py's emulator threads take turns (Python waits on each), so each
may use every core this process owns; what must not happen is several processes on one machine
(DDP ranks, or jobs started side by side) each taking every core: then OpenMP's spinning threads
fight and a loop can run several times slower.
"""

from __future__ import annotations

import os
from pathlib import Path

# CPU flags of bf16 arithmetic in hardware: AVX512-BF16 (AMD Zen 4+, Intel Cooper Lake+) and AMX.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cores_available() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's or ``taskset``'s share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_process(processes_on_this_machine: int = 1) -> int:
    """``OMP_NUM_THREADS`` when the user set it, else this process's share of the cores (at least 1)."""
    given = os.environ.get("OMP_NUM_THREADS", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    return max(1, cores_available() // max(1, processes_on_this_machine))


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The first processor's feature flags (empty where ``/proc/cpuinfo`` does not exist)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def has_native_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU multiplies bf16 in hardware. Elsewhere oneDNN emulates bf16, slower than float32.

    >>> has_native_bf16(frozenset({"avx2", "avx512f", "avx512_bf16"})), has_native_bf16(frozenset({"avx2"}))
    (True, False)
    """
    return bool(NATIVE_BF16_FLAGS & (cpu_flags() if flags is None else flags))


def cpu_precision() -> str:
    """The Trainer precision that trains lit_rl's networks fastest on this CPU: ``bf16-mixed`` where it
    is native (measured: a Nature-CNN PPO minibatch update 1.4x faster on AMD EPYC with AVX512-BF16,
    2.4x on Intel Xeon with AMX), ``32-true`` elsewhere."""
    return "bf16-mixed" if has_native_bf16() else "32-true"
