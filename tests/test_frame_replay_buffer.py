"""FrameReplayBuffer rebuilds exactly the stacks it was given, stores each frame once, and fits 1M in 7.5 GB."""

import numpy as np
import pytest
from gymnasium import spaces

from lit_rl.frame_replay_buffer import FrameReplayBuffer, check_fits_in_memory, make_replay_buffer
from lit_rl.replay_buffer import ReplayBuffer

STACK, FRAME = 4, (2, 3)


class FakeFrameStackEnv:
    """``num_envs`` streams of 4-frame stacks with next-step autoreset, like a vector Atari env.

    Every frame is distinct (it spells a frame counter); reset stacks are padded with zeros (the native
    ALE env) or with the reset frame (gymnasium's default). Episode ``k`` of env ``i`` lasts
    ``1 + (3 * k + i) % 7`` steps, and every third episode is truncated instead of terminated.
    """

    def __init__(self, num_envs: int, padding: str) -> None:
        self.num_envs, self.padding = num_envs, padding
        self.frames_made = 0
        self.episodes = np.zeros(num_envs, dtype=np.int64)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.done = np.zeros(num_envs, dtype=bool)
        self.obs = np.stack([self._reset_stack() for _ in range(num_envs)])

    def _frame(self) -> np.ndarray:
        self.frames_made += 1
        return np.frombuffer(self.frames_made.to_bytes(6, "little"), dtype=np.uint8).reshape(FRAME)

    def _reset_stack(self) -> np.ndarray:
        first = self._frame()
        pad = np.zeros_like(first) if self.padding == "zero" else first
        return np.stack([pad] * (STACK - 1) + [first])

    def step(self):
        obs = self.obs.copy()
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        for i in range(self.num_envs):
            if self.done[i]:  # the autoreset step: a new episode starts, no transition
                self.episodes[i] += 1
                self.t[i] = 0
                obs[i] = self._reset_stack()
                continue
            obs[i] = np.concatenate([obs[i, 1:], self._frame()[None]])
            self.t[i] += 1
            if self.t[i] >= 1 + (3 * self.episodes[i] + i) % 7:
                truncated[i] = self.episodes[i] % 3 == 2
                terminated[i] = not truncated[i]
        self.done = terminated | truncated
        self.obs = obs
        return obs, terminated, truncated


def fill(buffer, env, steps, rng, log):
    """Step ``env`` as ReplayCollector does; each stored row's action is a unique transition id."""
    for _ in range(steps):
        obs, resetting = env.obs, env.done  # the step after an episode's end only resets that env
        actions = len(log) + np.arange(env.num_envs)
        rewards = rng.normal(size=env.num_envs).astype(np.float32)
        next_obs, terminated, truncated = env.step()
        buffer.add(obs, actions, rewards, next_obs, terminated, truncated, valid=~resetting)
        for i in range(env.num_envs):
            log.append((i, obs[i], rewards[i], next_obs[i], terminated[i], truncated[i], not resetting[i]))


@pytest.mark.parametrize("padding", ["zero", "reset"])
def test_rebuilt_stacks_equal_the_envs_across_episode_starts_and_wraparound(padding):
    env, rng, log = FakeFrameStackEnv(num_envs=3, padding=padding), np.random.default_rng(0), []
    buffer = FrameReplayBuffer(60, (STACK, *FRAME), num_envs=3, seed=0)
    for steps in (5, 15, 40, 200):  # before, around and long after the first wrap of each env's ring
        fill(buffer, env, steps, rng, log)
        batch = buffer.sample(40 * len(buffer))
        drawn = set()
        for j, transition_id in enumerate(batch.actions.numpy()):
            env_index, obs, reward, next_obs, terminated, truncated, valid = log[transition_id]
            assert valid, "an autoreset row was stored"
            np.testing.assert_array_equal(batch.obs[j].numpy(), obs)
            np.testing.assert_array_equal(batch.next_obs[j].numpy(), next_obs)
            assert batch.rewards[j] == reward
            assert (batch.terminated[j], batch.truncated[j]) == (terminated, truncated)
            drawn.add(int(transition_id))
        assert len(drawn) == len(buffer)  # every stored transition is drawn, nothing else is
        for i in range(3):
            stored = [k for k, row in enumerate(log) if row[0] == i and row[6]]
            held = sorted(k for k in drawn if log[k][0] == i)
            assert held == stored[len(stored) - len(held) :], "the buffer must hold each env's newest"
            # At most STACK slots per episode start are not transitions.
            episodes = len({env_episode(log, k) for k in stored[-buffer.per_env :]})
            assert len(held) >= min(len(stored), buffer.per_env - STACK * episodes)
    assert buffer.terminated.any() and buffer.truncated.any()


def env_episode(log, k):
    """Which episode row ``k`` of the log belongs to: the count of earlier ends in its env."""
    return sum(1 for row in log[:k] if row[0] == log[k][0] and (row[4] or row[5]) and row[6])


def test_samples_are_uniform_over_stored_transitions():
    env, rng, log = FakeFrameStackEnv(num_envs=2, padding="zero"), np.random.default_rng(1), []
    buffer = FrameReplayBuffer(40, (STACK, *FRAME), num_envs=2, seed=1)
    fill(buffer, env, 100, rng, log)
    counts = np.unique(buffer.sample(200 * len(buffer)).actions.numpy(), return_counts=True)[1]
    assert len(counts) == len(buffer)
    assert counts.min() > 0.7 * 200 and counts.max() < 1.3 * 200


def test_memory_per_transition_is_one_frame_and_a_million_fit_in_7_5_gb():
    shape = (4, 84, 84)
    frames = FrameReplayBuffer(10_000, shape, num_envs=4)
    plain = ReplayBuffer(10_000, shape, np.uint8)
    per_transition = frames.nbytes / frames.capacity
    assert 84 * 84 <= per_transition <= 84 * 84 * 1.01  # one frame, plus action, reward, flags, first stacks
    assert plain.nbytes / plain.capacity > 7 * per_transition
    assert FrameReplayBuffer.required_bytes(10_000, shape, num_envs=4) == frames.nbytes
    assert FrameReplayBuffer.required_bytes(1_000_000, shape, num_envs=4) <= 7.5e9


def test_bad_input_is_refused_with_a_clear_error():
    buffer = FrameReplayBuffer(20, (STACK, *FRAME), num_envs=2)
    obs = np.zeros((2, STACK, *FRAME), dtype=np.uint8)
    zeros, flags = np.zeros(2), np.zeros(2, dtype=bool)
    with pytest.raises(ValueError, match="num_envs=2 but add\\(\\) got 3 rows"):
        buffer.add(obs[[0, 0, 1]], zeros, zeros, obs[[0, 0, 1]], flags, flags)
    not_shifted = obs.copy()
    not_shifted[:, 0] = 7
    with pytest.raises(ValueError, match="frame-stacked"):
        buffer.add(obs, zeros, zeros, not_shifted, flags, flags)
    with pytest.raises(RuntimeError, match="empty"):
        buffer.sample(1)


def test_a_buffer_larger_than_free_memory_is_refused_before_allocating():
    space = spaces.Box(0, 255, (4, 84, 84), np.uint8)
    with pytest.raises(ValueError, match=r"buffer_size=100000000 needs 707,\d{3},\d{3},\d{3} bytes"):
        make_replay_buffer(space, 100_000_000, num_envs=4)
    with pytest.raises(ValueError, match=r"needs 2,000 bytes .* only 1,999 bytes \(0.0 GB\) are available"):
        check_fits_in_memory("buffer_size", 5, 2000, available=1999)
    assert isinstance(make_replay_buffer(space, 100, num_envs=4), FrameReplayBuffer)
    assert isinstance(make_replay_buffer(spaces.Box(-1, 1, (4,)), 100, num_envs=4), ReplayBuffer)
