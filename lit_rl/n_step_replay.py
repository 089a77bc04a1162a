"""n-step returns: storing ``(s_t, a_t, r_t + γ r_{t+1} + ... , s_{t+n})`` instead of one-step transitions."""

from __future__ import annotations

from collections import deque

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
        self.buffer = buffer
        self.n_step = n_step
        self.discounts = gamma ** np.arange(n_step)
        self.pending = [deque() for _ in range(num_envs)]

    def add(self, obs, actions, rewards, next_obs, terminated, truncated, valid=None) -> None:
        rows = []
        for i, window in enumerate(self.pending):
            if valid is not None and not valid[i]:
                continue
            window.append((np.array(obs[i]), actions[i], float(rewards[i])))
            if terminated[i] or truncated[i]:
                while window:
                    rows.append(self._leave(window, next_obs[i], terminated[i], truncated[i]))
            elif len(window) == self.n_step:
                rows.append(self._leave(window, next_obs[i], False, False))
        if rows:
            columns = [np.stack(column) for column in zip(*rows, strict=True)]
            self.buffer.add(*columns[:6], n_steps=columns[6])

    def _leave(self, window: deque, next_obs: np.ndarray, terminated: bool, truncated: bool) -> tuple:
        rewards = np.array([reward for _, _, reward in window], dtype=np.float64)
        discounted = float(rewards @ self.discounts[: len(window)])
        obs, action, _ = window.popleft()
        return obs, action, np.float32(discounted), next_obs, terminated, truncated, len(rewards)

    def sample(self, batch_size: int) -> ReplayBatch:
        return self.buffer.sample(batch_size)

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
