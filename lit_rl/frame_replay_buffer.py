"""Experience replay for stacked frames that stores each frame once."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from gymnasium import spaces

from lit_rl.checks import ConfigurationError, check_positive, check_unit_interval
from lit_rl.networks import is_image_space
from lit_rl.replay_buffer import ReplayBatch, ReplayBuffer

# The arrays that hold the transitions, each [num_envs, slots, ...].
STORAGE = ("frames", "actions", "rewards", "terminated", "truncated", "has_transition")


class FrameReplayBuffer:
    """A replay ring for ``[stack, H, W]`` frame stacks that keeps every frame once.

    Each sub-environment has its own ring of slots; a slot holds one frame and, if that frame is the
    newest one of a transition's ``next_obs``, the transition itself. A transition in slot ``c`` is
    rebuilt from the frames of slots ``c - stack .. c``: ``obs`` is the first ``stack`` of them and
    ``next_obs`` the last ``stack``. A new episode first writes its whole first stack (``stack``
    slots with no transition), so stacks are rebuilt exactly whatever the env pads them with, and no
    stack ever mixes frames of two episodes.

    Memory per transition is one frame plus the action, reward and three flags: ~7.1 kB for 84x84
    Atari frames, so 1,000,000 transitions take ~7.07 GB (the plain ``ReplayBuffer`` needs 56 GB).
    Each episode start costs ``stack`` extra slots, so slightly fewer than ``capacity`` transitions
    are held when episodes are short.

    The interface is the one of ``ReplayBuffer``: row ``i`` of every array given to ``add`` is
    sub-environment ``i`` of a vector env, always ``num_envs`` rows.

    **n-step returns** (``n_step > 1``) are computed from the ring when a batch is gathered, so they cost
    no memory: the ring already holds each env's steps in order. The transition in slot ``c`` then sums
    the rewards of slots ``c .. c + m - 1`` discounted by ``gamma``, and its ``next_obs`` is the stack
    ending at slot ``c + m - 1``, where ``m = n_step`` unless the episode ends first: at a termination
    (``terminated``, no bootstrap), at a truncation (``truncated``, bootstrapping from the episode's
    final stack) or where the next slot starts a new episode without either flag (a resumed run), which
    is a truncation too. The transitions of the newest ``n_step - 1`` slots of an episode still running
    are not sampleable until their ``n_step`` steps are stored (as in Dopamine), so every batch equals
    what ``NStepReplayBuffer`` stores for the same steps.

    Args:
        capacity: transitions held, over all sub-environments (rounded up to a multiple of num_envs).
        observation_shape: ``(stack, height, width)`` of one observation.
        num_envs: sub-environments of the vector env that feeds the buffer.
        observation_dtype: dtype of the frames (uint8 for Atari).
        action_shape: shape of one action (``()`` for discrete actions).
        action_dtype: dtype of the actions.
        seed: seed of the sampling generator.
        n_step: the largest number of rewards summed per transition (1: one-step transitions).
        gamma: discount factor of the n-step sums (unused when ``n_step`` is 1).
    """

    def __init__(
        self,
        capacity: int,
        observation_shape: tuple[int, ...],
        num_envs: int,
        observation_dtype: np.dtype | type = np.uint8,
        action_shape: tuple[int, ...] = (),
        action_dtype: np.dtype | type = np.int64,
        seed: int | None = None,
        n_step: int = 1,
        gamma: float = 0.99,
    ) -> None:
        self.num_envs, self.per_env, self.slots = _layout(capacity, observation_shape, num_envs)
        if not 1 <= n_step <= min(255, self.per_env):  # n_steps is uint8; a window must fit in a ring
            raise ConfigurationError(
                f"n_step={n_step!r} is invalid for a FrameReplayBuffer of {self.per_env} transitions per env: "
                f"it must lie in [1, {min(255, self.per_env)}]."
            )
        check_unit_interval("gamma", gamma)
        self.n_step, self.gamma = int(n_step), float(gamma)
        self.discounts = float(gamma) ** np.arange(n_step, dtype=np.float64)  # gamma ** k for the k-th reward
        self.capacity = self.per_env * num_envs
        self.observation_shape = tuple(int(n) for n in observation_shape)
        self.stack = observation_shape[0]
        shape = (num_envs, self.slots)
        self.frames = np.zeros((*shape, *observation_shape[1:]), dtype=observation_dtype)
        self.actions = np.zeros((*shape, *action_shape), dtype=action_dtype)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=bool)
        self.truncated = np.zeros(shape, dtype=bool)
        self.has_transition = np.zeros(shape, dtype=bool)  # False: a frame of an episode's first stack
        self.written = np.zeros(num_envs, dtype=np.int64)  # slots written so far; the next is written % slots
        self.size = 0
        self.rng = np.random.default_rng(seed)

    @staticmethod
    def required_bytes(
        capacity: int,
        observation_shape: tuple[int, ...],
        num_envs: int,
        observation_dtype: np.dtype | type = np.uint8,
        action_shape: tuple[int, ...] = (),
        action_dtype: np.dtype | type = np.int64,
    ) -> int:
        """The ``nbytes`` a buffer of these arguments will hold, computed without allocating it."""
        num_envs, _, slots = _layout(capacity, observation_shape, num_envs)
        frame = math.prod(observation_shape[1:]) * np.dtype(observation_dtype).itemsize
        action = math.prod(action_shape) * np.dtype(action_dtype).itemsize
        return num_envs * slots * (frame + action + 4 + 3)  # + float32 reward, three bool flags

    def __len__(self) -> int:
        """The sampleable transitions: those stored, less the newest ones still waiting for their n steps."""
        if self.n_step == 1:
            return self.size
        envs = np.repeat(np.arange(self.num_envs), self.n_step - 1)
        counters = self.written[envs] + np.tile(np.arange(1 - self.n_step, 0), self.num_envs)
        stored = counters >= np.maximum(self.stack, self.written[envs] - self.slots + self.stack)
        envs, counters = envs[stored], counters[stored]
        has_transition = self.has_transition[envs, counters % self.slots]
        _, _, waiting = self._windows(envs[has_transition], counters[has_transition])
        return self.size - int(waiting.sum())

    @property
    def nbytes(self) -> int:
        """Bytes held by the storage arrays."""
        arrays = (self.frames, self.actions, self.rewards, self.terminated, self.truncated)
        return sum(a.nbytes for a in arrays) + self.has_transition.nbytes

    def state_dict(self) -> dict[str, np.ndarray]:
        """The layout, the filled part of the storage and the ring positions as plain arrays (not the rng).

        Each env's ring fills from slot 0, so the storage arrays are cut after the last slot any env has
        written (``[num_envs, filled, ...]``): a snapshot of a ring still filling holds only what it holds.
        The arrays are read-only views of the buffer's own (no copy), so the next ``add`` changes them.
        """
        filled = int(min(self.written.max(), self.slots))
        state = {name: _read_only(getattr(self, name)[:, :filled]) for name in STORAGE}
        return state | {
            "written": _read_only(self.written),
            "capacity": np.array(self.capacity, dtype=np.int64),
            "num_envs": np.array(self.num_envs, dtype=np.int64),
            "observation_shape": np.array(self.observation_shape, dtype=np.int64),
            "size": np.array(self.size, dtype=np.int64),
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a ``state_dict``; a mismatch raises a ``ValueError`` naming it and changes nothing.

        The storage arrays may hold the whole ring (as snapshots of earlier lit_rl versions do) or its
        filled part. Writable whole-ring arrays (such as ``np.load``'s) are taken over without a copy, so
        that a restored buffer holds its memory once; others are copied into a new ring, after checking
        that the free RAM (``MemAvailable``) holds the copy: the filled part of a ring read from a file
        needs its size twice until the loaded arrays are dropped.
        """
        layout = {
            "capacity": (int(state["capacity"]), self.capacity),
            "num_envs": (int(state["num_envs"]), self.num_envs),
            "observation_shape": (tuple(state["observation_shape"].tolist()), self.observation_shape),
        }
        for name, (theirs, ours) in layout.items():
            if theirs != ours:
                raise ValueError(f"the snapshot has {name}={theirs} but this FrameReplayBuffer has {name}={ours}")
        written = np.asarray(state["written"])
        if written.shape != self.written.shape or written.dtype != self.written.dtype:
            raise ValueError(
                f"the snapshot's written is {written.dtype} {written.shape} but this FrameReplayBuffer's "
                f"is {self.written.dtype} {self.written.shape}"
            )
        arrays = {name: np.asarray(state[name]) for name in STORAGE}
        filled = arrays["frames"].shape[1] if arrays["frames"].ndim > 1 else 0
        for name, theirs in arrays.items():
            ours = getattr(self, name)
            if theirs.shape != (ours.shape[0], filled, *ours.shape[2:]) or theirs.dtype != ours.dtype:
                raise ValueError(
                    f"the snapshot's {name} is {theirs.dtype} {theirs.shape} but this FrameReplayBuffer's "
                    f"is {ours.dtype} {ours.shape}"
                )
        needed = int(min(written.max(), self.slots))
        if not needed <= filled <= self.slots:
            raise ValueError(
                f"the snapshot holds {filled} slots per env but its ring positions need {needed} "
                f"(of {self.slots}): it is damaged"
            )
        copied = sum(a.nbytes for a in arrays.values() if a.shape[1] < self.slots or not _can_take_over(a))
        available = memory_available()
        if available is not None and copied > available:
            raise ValueError(
                f"copying the snapshot's {filled} of {self.slots} slots per env into the ring needs {copied:,} "
                f"bytes of RAM but only {available:,} are available (MemAvailable in /proc/meminfo)"
            )
        for name, theirs in arrays.items():
            if theirs.shape[1] == self.slots and _can_take_over(theirs):
                setattr(self, name, theirs)
            else:  # a new ring, so that no slot keeps what this buffer held before
                ours = getattr(self, name)
                ours = np.zeros(ours.shape, dtype=ours.dtype)  # not zeros_like: untouched pages stay unallocated
                ours[:, :filled] = theirs
                setattr(self, name, ours)
        self.written = written.copy()
        self.size = int(state["size"])

    def add(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        valid: np.ndarray | None = None,
    ) -> np.ndarray:
        """Store one vector-env step: row ``i`` of every array belongs to sub-environment ``i``.

        ``valid[i] = False`` drops row ``i`` (an autoreset step, not a transition). Returns the indices
        (see ``num_indices``) of the slots whose transition changed: those written, and those that stopped
        being sampleable because a frame of their stack was overwritten (for ``PrioritizedReplayBuffer``).
        """
        if len(obs) != self.num_envs:
            raise ValueError(
                f"FrameReplayBuffer was built for num_envs={self.num_envs} but add() got {len(obs)} rows; "
                "build it with the num_envs of the vector env that feeds it."
            )
        envs = np.arange(self.num_envs) if valid is None else np.flatnonzero(valid)
        if len(envs) == 0:
            return np.zeros(0, dtype=np.int64)
        if self.n_step > 1:  # the newest slots, whose n-step windows this add may complete
            waiting = (self.written[envs, None] + np.arange(1 - self.n_step, 0)).ravel()
            waiting = np.repeat(envs, self.n_step - 1)[waiting >= 0] * self.slots + waiting[waiting >= 0] % self.slots
            was_sampleable = self.is_sampleable(waiting)
        obs, next_obs = obs[envs], next_obs[envs]
        # Only frame stacks can share frames: next_obs must be obs shifted by one frame.
        if not np.array_equal(next_obs[:, :-1], obs[:, 1:]):
            raise ValueError(
                "FrameReplayBuffer needs frame-stacked observations (next_obs[:-1] == obs[1:]), but "
                "these are not; use lit_rl.ReplayBuffer for observations that are not frame stacks."
            )
        # A stack that is not the one this env stored last (a new episode) is written in full first.
        changed = [
            self._write(envs[row : row + 1], frame[None], has_transition=False)
            for row in np.flatnonzero(~self._is_last_stack(envs, obs))
            for frame in obs[row]
        ]
        changed.append(self._write(
            envs, next_obs[:, -1], True, actions[envs], rewards[envs], terminated[envs], truncated[envs]
        ))  # fmt: skip
        if self.n_step > 1:
            changed.append(waiting[self.is_sampleable(waiting) != was_sampleable])
        return changed[0] if len(changed) == 1 else np.concatenate(changed)

    def sample(self, batch_size: int) -> ReplayBatch:
        """Draw ``batch_size`` sampleable transitions uniformly, with replacement."""
        if len(self) == 0:
            raise RuntimeError("Cannot sample from an empty FrameReplayBuffer: add transitions first.")
        envs = np.empty(batch_size, dtype=np.int64)
        counters = np.empty(batch_size, dtype=np.int64)
        todo = np.arange(batch_size)
        while len(todo):  # draw slots uniformly, redraw first-stack frames and n-step windows still open
            envs[todo], counters[todo] = self._draw_slots(len(todo))
            redraw = ~self.has_transition[envs[todo], counters[todo] % self.slots]
            if self.n_step > 1:
                redraw[~redraw] = self._windows(envs[todo][~redraw], counters[todo][~redraw])[2]
            todo = todo[redraw]
        return self._gather(envs, counters)

    def _is_last_stack(self, envs: np.ndarray, obs: np.ndarray) -> np.ndarray:
        """For each env, whether ``obs`` equals the stack in its newest ``stack`` slots."""
        newest = (self.written[envs, None] + np.arange(-self.stack, 0)) % self.slots
        stored = self.frames[envs[:, None], newest]
        same = (stored == obs).reshape(len(envs), -1).all(axis=1)
        return same & (self.written[envs] >= self.stack)

    def _write(
        self,
        envs: np.ndarray,
        frames: np.ndarray,
        has_transition: bool,
        actions: np.ndarray | None = None,
        rewards: np.ndarray | None = None,
        terminated: np.ndarray | None = None,
        truncated: np.ndarray | None = None,
    ) -> np.ndarray:
        """Write the next slot of each of ``envs`` (distinct); ``size`` stays the sampleable count.

        Returns the indices of the slots written and of those whose transition stopped being sampleable.
        """
        counters = self.written[envs]
        # A transition in slot c needs slots c - stack .. c, so slot c - slots + stack stops being sampleable.
        leaving = counters - self.slots + self.stack
        old = leaving >= 0
        self.size -= int(self.has_transition[envs[old], leaving[old] % self.slots].sum())
        slots = counters % self.slots
        self.frames[envs, slots] = frames
        self.has_transition[envs, slots] = has_transition
        if has_transition:
            self.actions[envs, slots] = actions
            self.rewards[envs, slots] = rewards
            self.terminated[envs, slots] = terminated
            self.truncated[envs, slots] = truncated
            self.size += len(envs)
        self.written[envs] += 1
        return np.concatenate([envs * self.slots + slots, envs[old] * self.slots + leaving[old] % self.slots])

    @property
    def num_indices(self) -> int:
        """Slots of all rings: slot ``s`` of env ``e`` is index ``e * slots + s``, in ``[0, num_indices)``."""
        return self.num_envs * self.slots

    def is_sampleable(self, indices: np.ndarray) -> np.ndarray:
        """Whether each slot holds a transition whose whole stack (and n-step window) is stored.

        Not sampleable: slots never written, frames of an episode's first stack, the ``stack`` oldest
        slots of a full ring, whose transitions lost the first frame of their ``obs``, and, with
        ``n_step > 1``, the newest slots of a running episode whose ``n_step`` steps are not all stored.
        """
        envs, slots = np.divmod(np.asarray(indices, dtype=np.int64), self.slots)
        written = self.written[envs]
        counters = self._counters(envs, slots)
        stored = self.has_transition[envs, slots] & (counters >= 0) & (counters >= written - self.slots + self.stack)
        if self.n_step > 1:
            stored[stored] = ~self._windows(envs[stored], counters[stored])[2]
        return stored

    def gather(self, indices: np.ndarray) -> ReplayBatch:
        """The transitions in slots ``indices`` (see ``num_indices``), rebuilt into a batch."""
        envs, slots = np.divmod(np.asarray(indices, dtype=np.int64), self.slots)
        return self._gather(envs, self._counters(envs, slots))

    def _counters(self, envs: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """The newest write of each slot of ``envs`` (< 0: never written)."""
        written = self.written[envs]
        return written - 1 - (written - 1 - slots) % self.slots

    def _windows(self, envs: np.ndarray, counters: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The n-step windows of the transitions in slots ``counters`` of ``envs`` (each holding one).

        Returns ``in_window`` (``[B, n_step]``: whether step ``k``, in slot ``counter + k``, is summed),
        ``steps`` (``m``, the steps summed) and ``waiting`` (whether the window may still grow: fewer than
        ``n_step`` steps, the last not an episode's end, and the write head right after it).
        """
        window = counters[:, None] + np.arange(self.n_step)
        written = self.written[envs, None]
        rows, ring = envs[:, None], window % self.slots
        ends = self.terminated[rows, ring] | self.truncated[rows, ring]
        # Step k is summed if it is stored, holds a transition, and no earlier step of the window ended.
        open_before = np.concatenate([np.ones((len(envs), 1), bool), ~ends[:, :-1]], axis=1)
        summed = (window < written) & self.has_transition[rows, ring] & open_before
        in_window = np.logical_and.accumulate(summed, axis=1)
        steps = in_window.sum(axis=1)
        last = np.maximum(steps - 1, 0)
        ended = ends[np.arange(len(envs)), last] & in_window[:, 0]
        waiting = (steps < self.n_step) & ~ended & (counters + steps >= written[:, 0])
        return in_window, steps, waiting

    def _draw_slots(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` slot counters drawn uniformly among those whose whole stack is still stored."""
        first = np.maximum(self.stack, self.written - self.slots + self.stack)
        counts = np.maximum(self.written - first, 0)
        ends = np.cumsum(counts)
        draws = self.rng.integers(0, ends[-1], size=n)
        envs = np.searchsorted(ends, draws, side="right")
        return envs, first[envs] + draws - (ends[envs] - counts[envs])

    def _gather(self, envs: np.ndarray, counters: np.ndarray) -> ReplayBatch:
        """The transitions of slots ``counters`` of ``envs``: each a slot's newest write, as ``_counters`` gives."""
        # Fancy indexing copies, so the batch stays valid while the ring keeps being written.
        offsets = np.arange(-self.stack, 0)
        obs_slots = (counters[:, None] + offsets) % self.slots
        slots = counters % self.slots
        if self.n_step == 1:
            rewards, last, steps = self.rewards[envs, slots], slots, np.ones(len(envs), dtype=np.uint8)
        else:  # the sums of up to n_step rewards, to the window's last slot
            in_window, steps, _ = self._windows(envs, counters)
            window_rewards = self.rewards[envs[:, None], (counters[:, None] + np.arange(self.n_step)) % self.slots]
            rewards = (np.where(in_window, window_rewards, 0.0) @ self.discounts).astype(np.float32)
            last = (counters + np.maximum(steps, 1) - 1) % self.slots
            steps = steps.astype(np.uint8)
        next_slots = (last[:, None] + offsets + 1) % self.slots
        return ReplayBatch(
            obs=torch.from_numpy(self.frames[envs[:, None], obs_slots]),
            actions=torch.from_numpy(self.actions[envs, slots]),
            rewards=torch.from_numpy(rewards),
            next_obs=torch.from_numpy(self.frames[envs[:, None], next_slots]),
            terminated=torch.from_numpy(self.terminated[envs, last]),
            truncated=torch.from_numpy(self.truncated[envs, last]),
            n_steps=torch.from_numpy(steps),
        )


def _can_take_over(array: np.ndarray) -> bool:
    return array.flags.writeable and array.flags.c_contiguous


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def _layout(capacity: int, observation_shape: tuple[int, ...], num_envs: int) -> tuple[int, int, int]:
    """``(num_envs, transitions per env, slots per env)``; the extra ``stack`` slots hold a first stack."""
    check_positive("capacity", capacity)
    check_positive("num_envs", num_envs)
    if len(observation_shape) < 2:
        raise ConfigurationError(
            f"observation_shape={tuple(observation_shape)} is invalid for FrameReplayBuffer: it needs "
            "[stack, ...frame] observations such as (4, 84, 84)."
        )
    per_env = -(-int(capacity) // int(num_envs))
    return int(num_envs), per_env, per_env + observation_shape[0]


def memory_available() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes; ``None`` where there is no such file."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits_in_memory(name: str, value: int, nbytes: int, available: int | None = None) -> None:
    """Raise a ``ValueError`` if ``nbytes`` (needed because ``name=value``) exceeds the free RAM."""
    available = memory_available() if available is None else available
    if available is not None and nbytes > available:
        raise ConfigurationError(
            f"{name}={value} needs {nbytes:,} bytes ({nbytes / 1e9:.1f} GB) of RAM for the replay buffer, "
            f"but only {available:,} bytes ({available / 1e9:.1f} GB) are available (MemAvailable in "
            f"/proc/meminfo); lower {name}."
        )


def make_replay_buffer(
    observation_space: spaces.Box,
    capacity: int,
    num_envs: int,
    copies: int = 1,
    seed: int | None = None,
    n_step: int = 1,
    gamma: float = 0.99,
    action_space: spaces.Space | None = None,
) -> FrameReplayBuffer | ReplayBuffer:
    """A ``FrameReplayBuffer`` for uint8 ``[C, H, W]`` frame stacks, else a ``ReplayBuffer``.

    Before allocating, checks that ``copies`` buffers (one per process on this machine) fit in the
    free RAM: numpy reserves memory lazily, so a buffer too large would otherwise fail hours later.
    ``n_step`` and ``gamma`` go to the ``FrameReplayBuffer``, which sums n-step returns itself; a
    ``ReplayBuffer`` stores what it is given (put a ``NStepReplayBuffer`` in front of it for n-step).
    A ``Box`` ``action_space`` gives float32 action vectors; the default is one integer action.
    """
    shape, dtype = observation_space.shape, observation_space.dtype
    if is_image_space(observation_space):
        nbytes = FrameReplayBuffer.required_bytes(capacity, shape, num_envs, dtype)
        check_fits_in_memory("buffer_size", capacity, copies * nbytes)
        return FrameReplayBuffer(capacity, shape, num_envs, dtype, seed=seed, n_step=n_step, gamma=gamma)
    continuous = isinstance(action_space, spaces.Box)
    action_shape, action_dtype = (action_space.shape, np.float32) if continuous else ((), np.int64)
    nbytes = ReplayBuffer.required_bytes(capacity, shape, dtype, action_shape, action_dtype)
    check_fits_in_memory("buffer_size", capacity, copies * nbytes)
    return ReplayBuffer(capacity, shape, dtype, action_shape, action_dtype, seed=seed)
