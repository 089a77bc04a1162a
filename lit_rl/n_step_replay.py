"""n-step returns: storing ``(s_t, a_t, r_t + γ r_{t+1} + ... , s_{t+n})`` instead of one-step transitions."""

from __future__ import annotations

import numpy as np

from lit_rl.checks import check_positive, check_unit_interval
from lit_rl.replay_buffer import ReplayBatch, ReplayBuffer


class NStepReplayBuffer:
    """Turns each sub-environment's one-step transitions into n-step ones before storing them.

    A transition leaves its window once ``n_step`` later rewards are known, or when the episode
    ends first: then every pending transition is stored with the steps it has (``n_steps < n``).
    After termination none of them bootstraps; after truncation they bootstrap from the final
    observation, discounted by ``gamma ** n_steps``. Autoreset rows (``valid=False``) are skipped.
    Pending windows are not checkpointed: a resumed run starts them afresh.

    Args:
        buffer: the ``ReplayBuffer`` that stores the n-step transitions.
        n_step: the largest number of rewards summed per transition.
        gamma: discount factor of the sum.
        num_envs: sub-environments of the vector env that feeds the buffer.
    """

    def __init__(self, buffer: ReplayBuffer, n_step: int, gamma: float, num_envs: int) -> None:
        check_positive("n_step", n_step)
        check_unit_interval("gamma", gamma)
        check_positive("num_envs", num_envs)
        self.buffer = buffer
        self.n_step = n_step
        # returns_from[j] @ rewards[:k] is the discounted sum of rewards j..k-1 (zeros below the diagonal).
        lag = np.arange(n_step)[None, :] - np.arange(n_step)[:, None]
        self.returns_from = np.triu(gamma ** np.maximum(lag, 0))
        # Each sub-environment's pending transitions, oldest first, in slots [0, pending[i]) of row i.
        self.obs = np.zeros((num_envs, n_step, *buffer.obs.shape[1:]), dtype=buffer.obs.dtype)
        self.actions = np.zeros((num_envs, n_step, *buffer.actions.shape[1:]), dtype=buffer.actions.dtype)
        self.rewards = np.zeros((num_envs, n_step))
        self.pending = np.zeros(num_envs, dtype=np.int64)
        self.no_ends = np.zeros(num_envs, dtype=bool)  # terminated = truncated = False for every env

    def add(self, obs, actions, rewards, next_obs, terminated, truncated, valid=None) -> np.ndarray:
        """Take one vector-env step; store the n-step transitions it completes. Returns the buffer rows written."""
        all_valid = valid is None or valid.all()
        if all_valid and self.pending.min() == self.n_step - 1 and not (terminated | truncated).any():
            return self._add_to_full_windows(obs, actions, rewards, next_obs)
        envs = np.arange(len(self.pending)) if all_valid else np.flatnonzero(valid)
        slots = self.pending[envs]
        self.obs[envs, slots] = obs[envs]
        self.actions[envs, slots] = actions[envs]
        self.rewards[envs, slots] = rewards[envs]
        self.pending[envs] += 1
        ends = (terminated | truncated)[envs]
        full = envs[~ends & (self.pending[envs] == self.n_step)]
        columns = []
        if len(full):  # the oldest transition now has its n rewards: store it, slide the window
            columns.append((
                self.obs[full, 0], self.actions[full, 0], self.rewards[full] @ self.returns_from[0], next_obs[full],
                np.zeros(len(full), bool), np.zeros(len(full), bool), np.full(len(full), self.n_step),
            ))  # fmt: skip
            for window in (self.obs, self.actions, self.rewards):
                window[full, :-1] = window[full, 1:]
            self.pending[full] -= 1
        for i in envs[ends]:  # the episode ended: every pending transition is stored with the steps it has
            k = self.pending[i]
            columns.append((
                self.obs[i, :k], self.actions[i, :k], self.returns_from[:k, :k] @ self.rewards[i, :k],
                np.repeat(next_obs[i : i + 1], k, axis=0), np.full(k, terminated[i]), np.full(k, truncated[i]),
                k - np.arange(k),
            ))  # fmt: skip
            self.pending[i] = 0
        if not columns:
            return np.zeros(0, dtype=np.int64)
        merged = columns[0] if len(columns) == 1 else [np.concatenate(c) for c in zip(*columns, strict=True)]
        return self.buffer.add(*merged[:6], n_steps=merged[6])

    def _add_to_full_windows(self, obs, actions, rewards, next_obs) -> np.ndarray:
        """The steady state, in slices: every window gets its n-th step and stores its oldest transition."""
        self.obs[:, -1], self.actions[:, -1], self.rewards[:, -1] = obs, actions, rewards
        returns, flags = self.rewards @ self.returns_from[0], self.no_ends
        rows = self.buffer.add(self.obs[:, 0], self.actions[:, 0], returns, next_obs, flags, flags, n_steps=self.n_step)
        for window in (self.obs, self.actions, self.rewards):
            window[:, :-1] = window[:, 1:]
        return rows

    def sample(self, batch_size: int) -> ReplayBatch:
        return self.buffer.sample(batch_size)

    @property
    def num_indices(self) -> int:
        return self.buffer.num_indices

    def is_sampleable(self, indices: np.ndarray) -> np.ndarray:
        return self.buffer.is_sampleable(indices)

    def gather(self, indices: np.ndarray) -> ReplayBatch:
        return self.buffer.gather(indices)

    def __len__(self) -> int:
        return len(self.buffer)

    @property
    def capacity(self) -> int:
        return self.buffer.capacity

    @property
    def rng(self) -> np.random.Generator:
        return self.buffer.rng

    @property
    def nbytes(self) -> int:
        return self.buffer.nbytes

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.buffer.state_dict()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.buffer.load_state_dict(state)
