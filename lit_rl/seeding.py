"""The run's seed, as set by ``seed_everything``, and the independent random streams derived from it.

Each purpose (exploration, replay sampling, action sampling, minibatch shuffling, evaluation, noisy
nets) and
each process gets its own stream, derived with ``numpy.random.SeedSequence``: streams seeded with
``seed``, ``seed + 1``, ... from one generator family can be correlated, and two ranks seeded
alike draw identical noise.
"""

from __future__ import annotations

import os

import numpy as np
import torch

STREAMS = ("action", "replay", "policy_sampling", "shuffle", "evaluation", "noise")


def run_seed() -> int:
    """The seed Lightning's ``seed_everything`` recorded, or 0 when none was set."""
    return int(os.environ.get("PL_GLOBAL_SEED", 0))


def stream_seed_sequence(stream: str, rank: int = 0, *extra: int) -> np.random.SeedSequence:
    """The seed sequence of one purpose's stream in one process (``extra`` words derive further streams)."""
    if stream not in STREAMS:
        raise ValueError(f"stream={stream!r} is invalid: choose one of {', '.join(map(repr, STREAMS))}.")
    return np.random.SeedSequence(run_seed(), spawn_key=(STREAMS.index(stream), rank, *extra))


def numpy_stream(stream: str, rank: int = 0, *extra: int) -> np.random.Generator:
    """A numpy generator for one purpose in one process, independent of every other stream."""
    return np.random.default_rng(stream_seed_sequence(stream, rank, *extra))


def torch_stream(stream: str, rank: int = 0, *extra: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator on ``device`` for one purpose in one process, independent of every other stream."""
    seed = int(stream_seed_sequence(stream, rank, *extra).generate_state(1, np.uint64)[0] >> np.uint64(1))
    return torch.Generator(device=device).manual_seed(seed)
