import numpy as np
import pytest

from lit_rl import ReplayBuffer
from lit_rl.n_step_replay import NStepReplayBuffer


def step(buffer, obs, rewards, terminated=(False, False), truncated=(False, False), valid=None):
    obs = np.asarray(obs, dtype=np.float32)[:, None]
    buffer.add(
        obs, np.array([0, 1]), np.asarray(rewards, dtype=np.float32), obs + 1,
        np.asarray(terminated), np.asarray(truncated), valid=None if valid is None else np.asarray(valid),
    )


def stored(inner):
    n = len(inner)
    return sorted(
        zip(inner.obs[:n, 0].tolist(), np.round(inner.rewards[:n], 4).tolist(), inner.next_obs[:n, 0].tolist(),
            inner.terminated[:n].tolist(), inner.truncated[:n].tolist(), inner.n_steps[:n].tolist(), strict=True)
    )


def test_three_step_windows_with_a_termination_and_a_truncation():
    inner = ReplayBuffer(100, (1,), seed=0)
    buffer = NStepReplayBuffer(inner, n_step=3, gamma=0.5, num_envs=2)
    # env 0 (obs 0,1,2,3; rewards 1,2,4,8) terminates on its 4th step.
    # env 1 (obs 10,11; rewards 1,1) is truncated on its 2nd step, then its autoreset row is skipped.
    step(buffer, [0, 10], [1, 1])
    step(buffer, [1, 11], [2, 1], truncated=(False, True))
    assert len(inner) == 2  # env 1's truncation flushed its two pending transitions; env 0's window is not full
    step(buffer, [2, 99], [4, 0], valid=(True, False))
    step(buffer, [3, 20], [8, 5], terminated=(True, False))
    assert stored(inner) == sorted([
        # env 1, flushed by truncation: bootstraps from next_obs 12 (terminated False)
        (10.0, 1.5, 12.0, False, True, 2),  # 1 + 0.5 * 1
        (11.0, 1.0, 12.0, False, True, 1),
        # env 0: a full window, then the termination flushes the rest
        (0.0, 3.0, 3.0, False, False, 3),  # 1 + 0.5 * 2 + 0.25 * 4
        (1.0, 6.0, 4.0, True, False, 3),  # 2 + 0.5 * 4 + 0.25 * 8
        (2.0, 8.0, 4.0, True, False, 2),  # 4 + 0.5 * 8
        (3.0, 8.0, 4.0, True, False, 1),
    ])


def test_one_step_windows_store_plain_transitions():
    inner = ReplayBuffer(10, (1,), seed=0)
    step(NStepReplayBuffer(inner, n_step=1, gamma=0.9, num_envs=2), [0, 10], [1, 2])
    assert stored(inner) == [(0.0, 1.0, 1.0, False, False, 1), (10.0, 2.0, 11.0, False, False, 1)]


def test_n_step_must_be_positive():
    with pytest.raises(ValueError, match="n_step=0 is invalid"):
        NStepReplayBuffer(ReplayBuffer(10, (1,)), n_step=0, gamma=0.9, num_envs=1)


def reference_n_step(stream, n, gamma, num_envs):
    """Per-env lists, one transition at a time: the definition the buffer must match."""
    pending, out = [[] for _ in range(num_envs)], []
    for obs, rewards, next_obs, terminated, truncated, valid in stream:
        for i in np.flatnonzero(valid):
            pending[i].append((obs[i, 0], rewards[i]))
            ended = terminated[i] or truncated[i]
            while pending[i] and (ended or len(pending[i]) == n):
                window = pending[i]
                discounted = sum(gamma**k * r for k, (_, r) in enumerate(window))
                flags = (bool(terminated[i]), bool(truncated[i])) if ended else (False, False)
                out.append((window[0][0], round(discounted, 4), next_obs[i, 0], *flags, len(window)))
                pending[i] = window[1:]
                if not ended:
                    break
    return sorted(out)


@pytest.mark.parametrize("num_envs", [1, 3])
def test_random_episodes_match_the_per_transition_definition(num_envs):
    rng = np.random.default_rng(0)
    inner = ReplayBuffer(10_000, (1,), seed=0)
    buffer = NStepReplayBuffer(inner, n_step=3, gamma=0.9, num_envs=num_envs)
    stream, resetting = [], np.zeros(num_envs, bool)
    for t in range(400):
        obs = (t * 10 + np.arange(num_envs, dtype=np.float32))[:, None]
        rewards = rng.integers(0, 5, num_envs).astype(np.float32)
        terminated, truncated = rng.random(num_envs) < 0.05, rng.random(num_envs) < 0.03
        stream.append((obs, rewards, obs + 0.5, terminated, truncated, ~resetting))
        buffer.add(obs, np.zeros(num_envs, np.int64), rewards, obs + 0.5, terminated, truncated, valid=~resetting)
        resetting = terminated | truncated
    n = len(inner)
    got = sorted(
        zip(inner.obs[:n, 0].tolist(), np.round(inner.rewards[:n], 4).tolist(), inner.next_obs[:n, 0].tolist(),
            inner.terminated[:n].tolist(), inner.truncated[:n].tolist(), inner.n_steps[:n].tolist(), strict=True)
    )  # fmt: skip
    assert got == reference_n_step(stream, 3, 0.9, num_envs)
    assert n > 300 * num_envs  # most steps were stored (the steady-state path ran)
