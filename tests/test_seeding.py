"""Every purpose and every process draws from its own random stream, derived from the run's seed."""

import lightning as L
import numpy as np
import pytest
import torch

import lit_rl
from lit_rl.seeding import STREAMS, numpy_stream, torch_stream


def first_draws(generator: np.random.Generator) -> np.ndarray:
    return generator.integers(0, 2**32, size=8)


def test_streams_are_reproducible_and_distinct_per_purpose_rank_and_seed():
    L.seed_everything(5, verbose=False)
    draws = {(name, rank): first_draws(numpy_stream(name, rank)) for name in STREAMS for rank in (0, 1)}
    assert np.array_equal(draws["action", 0], first_draws(numpy_stream("action", 0)))
    assert len({tuple(d) for d in draws.values()}) == len(draws)
    torch_draws = {torch.rand(4, generator=torch_stream(name, rank)).sum().item() for name in STREAMS for rank in (0, 1)}
    assert len(torch_draws) == len(draws)
    L.seed_everything(6, verbose=False)
    assert not np.array_equal(draws["action", 0], first_draws(numpy_stream("action", 0)))


def test_an_unknown_stream_is_a_clear_error():
    with pytest.raises(ValueError, match="stream='dropout' is invalid"):
        numpy_stream("dropout")


def test_dqn_exploration_replay_and_evaluation_streams_are_not_the_same_stream():
    L.seed_everything(0, verbose=False)
    module = lit_rl.DQN("CartPole-v1", buffer_size=100, batch_size=8, learning_starts=8)
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    module.trainer = trainer
    module.setup("fit")
    try:
        streams = (module.action_rng, module.replay_buffer.rng, module.eval_rng)
        # Seeded alike (seed, seed + rank), exploration and replay sampling drew bit-identical numbers.
        assert len({tuple(first_draws(rng)) for rng in streams}) == 3
    finally:
        module.teardown("fit")
