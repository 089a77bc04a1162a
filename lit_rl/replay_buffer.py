"""Uniform experience replay with preallocated ring storage."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from lit_rl.checks import check_positive


class ReplayBatch(NamedTuple):
    """A batch of transitions ``(s, a, r, s', terminated, truncated)``, one row each.

    With n-step returns, ``rewards`` is the discounted sum of up to n rewards, ``next_obs`` the state
    ``n_steps`` steps later, and the TD target discounts it by ``gamma ** n_steps``.
    """

    obs: Tensor
    actions: Tensor
    rewards: Tensor
    next_obs: Tensor
    terminated: Tensor
    truncated: Tensor
    n_steps: Tensor | None = None
    # Prioritized replay only (``PrioritizedReplayBuffer``): each row's importance-sampling weight, the
    # largest in the batch 1, and its index in the buffer, for ``update_priorities`` after the gradient step.
    weights: Tensor | None = None
    indices: Tensor | None = None

    def to(self, device: torch.device | str) -> ReplayBatch:
        """The batch on ``device``. Lightning moves batches with an object's own ``to``, one call per batch."""
        device = torch.device(device)
        non_blocking = device.type not in ("cpu", "mps")  # asynchronous host-to-GPU copies, as Lightning's
        return ReplayBatch(*(None if field is None else field.to(device, non_blocking=non_blocking) for field in self))

    def split(self, count: int) -> list[ReplayBatch]:
        """``count`` minibatches of equal size, the rows in order (views, no copies).

        Importance weights are normalised again within each minibatch (its largest weight is 1), as if
        each minibatch had been sampled alone: one gradient step's weights never depend on the others'.
        """
        if count == 1:
            return [self]
        size = len(self.obs) // count
        columns = [[None] * count if field is None else field.split(size) for field in self]
        minibatches = [ReplayBatch(*row) for row in zip(*columns, strict=True)]
        if self.weights is None:
            return minibatches
        return [minibatch._replace(weights=minibatch.weights / minibatch.weights.max()) for minibatch in minibatches]


class ReplayBuffer:
    """A fixed-capacity ring of transitions, sampled uniformly.

    Observations keep the dtype the environment gives them (uint8 frames stay uint8; the network
    scales them on the device). ``terminated`` and ``truncated`` are stored apart because they
    mean different things to the TD target: termination stops bootstrapping, truncation does not.

    Transitions arrive one row per sub-environment of a vector env. With gymnasium >= 1.0
    next-step autoreset, the step after an episode ends only resets that sub-environment: its
    ``(final obs, ignored action, reset obs)`` row is not a transition, so the caller passes
    ``valid=False`` for it and it is never stored.

    >>> buffer = ReplayBuffer(capacity=3, observation_shape=(2,), observation_dtype=np.uint8, seed=0)
    >>> obs = np.array([[1, 1], [2, 2]], dtype=np.uint8)
    >>> buffer.add(obs, np.array([0, 1]), np.array([1.0, 0.0]), obs + 1,
    ...            terminated=np.array([False, True]), truncated=np.array([False, False]))  # the rows written
    array([0, 1])
    >>> len(buffer), buffer.sample(4).obs.dtype
    (2, torch.uint8)
    """

    def __init__(
        self,
        capacity: int,
        observation_shape: tuple[int, ...],
        observation_dtype: np.dtype | type = np.float32,
        action_shape: tuple[int, ...] = (),
        action_dtype: np.dtype | type = np.int64,
        seed: int | None = None,
    ) -> None:
        check_positive("capacity", capacity)
        self.capacity = int(capacity)
        self.obs = np.zeros((self.capacity, *observation_shape), dtype=observation_dtype)
        self.next_obs = np.zeros_like(self.obs)
        self.actions = np.zeros((self.capacity, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=bool)
        self.truncated = np.zeros(self.capacity, dtype=bool)
        self.n_steps = np.ones(self.capacity, dtype=np.uint8)  # env steps between obs and next_obs
        self.position = 0  # next row to write
        self.size = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    @staticmethod
    def required_bytes(
        capacity: int,
        observation_shape: tuple[int, ...],
        observation_dtype: np.dtype | type = np.float32,
        action_shape: tuple[int, ...] = (),
        action_dtype: np.dtype | type = np.int64,
    ) -> int:
        """The ``nbytes`` of a buffer of these arguments, computed without allocating it."""
        obs = int(np.prod(observation_shape)) * np.dtype(observation_dtype).itemsize
        action = int(np.prod(action_shape)) * np.dtype(action_dtype).itemsize
        # obs and next_obs, the action, a float32 reward, two bool flags, a uint8 n_steps
        return capacity * (2 * obs + action + 4 + 1 + 1 + 1)

    @property
    def nbytes(self) -> int:
        """Bytes held by the storage arrays."""
        arrays = (self.obs, self.next_obs, self.actions, self.rewards, self.terminated, self.truncated, self.n_steps)
        return sum(a.nbytes for a in arrays)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The stored rows and the write position, as plain arrays (for ``np.savez``)."""
        return {
            "obs": self.obs[: self.size],
            "next_obs": self.next_obs[: self.size],
            "actions": self.actions[: self.size],
            "rewards": self.rewards[: self.size],
            "terminated": self.terminated[: self.size],
            "truncated": self.truncated[: self.size],
            "n_steps": self.n_steps[: self.size],
            "position": np.int64(self.position),
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        size = len(state["obs"])
        if size > self.capacity or state["obs"].shape[1:] != self.obs.shape[1:]:
            raise ValueError(
                f"snapshot of {size} transitions of shape {state['obs'].shape[1:]} does not fit a buffer of "
                f"capacity {self.capacity} and observation shape {self.obs.shape[1:]}"
            )
        for field in ("obs", "next_obs", "actions", "rewards", "terminated", "truncated", "n_steps"):
            getattr(self, field)[:size] = state[field]
        self.size = size
        self.position = int(state["position"]) % self.capacity

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        valid: np.ndarray | None = None,
        n_steps: np.ndarray | int = 1,
    ) -> np.ndarray:
        """Store one vector-env step: row ``i`` of every array belongs to sub-environment ``i``.

        ``valid[i] = False`` drops row ``i`` (an autoreset step, not a transition). ``n_steps`` is
        set by ``NStepReplayBuffer``, which stores multi-step transitions. Returns the buffer rows
        written (their indices, for ``PrioritizedReplayBuffer``).
        """
        n_steps = np.broadcast_to(np.asarray(n_steps, dtype=np.uint8), len(obs))
        if valid is not None and not valid.all():
            obs, actions, rewards, next_obs = obs[valid], actions[valid], rewards[valid], next_obs[valid]
            terminated, truncated, n_steps = terminated[valid], truncated[valid], n_steps[valid]
        n = len(obs)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        end = self.position + n
        written = np.arange(self.position, end) % self.capacity
        rows = slice(self.position, end) if end <= self.capacity else written
        self.obs[rows] = obs
        self.actions[rows] = actions
        self.rewards[rows] = rewards
        self.next_obs[rows] = next_obs
        self.terminated[rows] = terminated
        self.truncated[rows] = truncated
        self.n_steps[rows] = n_steps
        self.position = (self.position + n) % self.capacity
        self.size = min(self.size + n, self.capacity)
        return written

    def sample(self, batch_size: int) -> ReplayBatch:
        """Draw ``batch_size`` stored transitions uniformly, with replacement."""
        if self.size == 0:
            raise RuntimeError("Cannot sample from an empty ReplayBuffer: add transitions first.")
        rows = self.rng.integers(0, self.size, size=batch_size)
        return self._gather(rows)

    @property
    def num_indices(self) -> int:
        """Rows of the ring: ``add`` returns, ``is_sampleable`` and ``gather`` take indices in ``[0, num_indices)``."""
        return self.capacity

    def is_sampleable(self, indices: np.ndarray) -> np.ndarray:
        """Whether each row holds a transition (the ring fills from row 0)."""
        return np.asarray(indices) < self.size

    def gather(self, indices: np.ndarray) -> ReplayBatch:
        """The transitions in rows ``indices``, copied into a batch."""
        return self._gather(np.asarray(indices))

    def _gather(self, rows: np.ndarray) -> ReplayBatch:
        # Fancy indexing copies, so the batch stays valid while the ring keeps being written.
        return ReplayBatch(
            obs=torch.from_numpy(self.obs[rows]),
            actions=torch.from_numpy(self.actions[rows]),
            rewards=torch.from_numpy(self.rewards[rows]),
            next_obs=torch.from_numpy(self.next_obs[rows]),
            terminated=torch.from_numpy(self.terminated[rows]),
            truncated=torch.from_numpy(self.truncated[rows]),
            n_steps=torch.from_numpy(self.n_steps[rows]),
        )
