"""Proportional prioritized experience replay (Schaul et al. 2016) on a sum tree."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from lit_rl.checks import check_non_negative, check_positive, check_unit_interval
from lit_rl.replay_buffer import ReplayBatch
from lit_rl.sum_tree import SumTree


class IndexedStorage(Protocol):
    """What ``PrioritizedReplayBuffer`` needs of a buffer: ``ReplayBuffer``, ``NStepReplayBuffer`` and
    ``FrameReplayBuffer`` offer it."""

    rng: np.random.Generator
    capacity: int

    def add(self, *args, **kwargs) -> np.ndarray: ...  # the indices whose transition changed
    @property
    def num_indices(self) -> int: ...
    def is_sampleable(self, indices: np.ndarray) -> np.ndarray: ...
    def gather(self, indices: np.ndarray) -> ReplayBatch: ...
    def __len__(self) -> int: ...
    def state_dict(self) -> dict[str, np.ndarray]: ...
    def load_state_dict(self, state: dict[str, np.ndarray]) -> None: ...


def importance_weights(probabilities: np.ndarray, size: int, beta: float) -> np.ndarray:
    """Importance-sampling weights ``w_i = (N * P(i)) ** -beta``, divided by the largest of them.

    Dividing by the batch's largest weight (as Dopamine's Rainbow does) keeps every weight in
    ``(0, 1]``, so prioritized updates are only ever scaled down; the factor ``N`` then cancels.

    >>> importance_weights(np.array([0.1, 0.2, 0.4]), size=4, beta=0.5)  # 1, 1/sqrt(2), 1/2
    array([1.        , 0.70710677, 0.5       ], dtype=float32)

    Args:
        probabilities: the probability ``P(i)`` with which each sampled transition was drawn.
        size: ``N``, the number of transitions that could be drawn.
        beta: the correction's exponent, 0 (none) to 1 (full).
    """
    weights = (size * np.asarray(probabilities, dtype=np.float64)) ** -beta
    return (weights / weights.max()).astype(np.float32)


class PrioritizedReplayBuffer:
    """Samples a replay buffer's transitions in proportion to their priority ``(|TD error| + eps) ** alpha``.

    Proportional prioritization of Schaul et al. (2016), "Prioritized Experience Replay": transition
    ``i`` is drawn with probability ``P(i) = p_i / sum_k p_k``, and its loss is scaled by the importance
    weight ``(N * P(i)) ** -beta`` divided by the batch's largest (``importance_weights``), with ``beta``
    annealed to 1 by the module on the env-step clock. The priorities live in a ``SumTree`` over the
    buffer's indices; sampling and updating a batch of ``B`` cost ``O(B log N)`` in vectorized numpy.

    - **Sampling is stratified**, as in the paper's appendix B.2.1 and Dopamine: the total priority is cut
      into ``batch_size`` equal segments and one transition is drawn in each, by a prefix-sum search.
      The segments' order is shuffled, so a batch later split into minibatches (one per gradient step)
      gives each minibatch a random share of the segments: every row is still drawn with probability ``P(i)``.
    - **New transitions get the largest priority set so far** (1 before any update), so each is likely
      to be replayed once before its TD error is known.
    - **Indices that hold no transition have priority 0** and are never drawn: rows not yet written, and
      ``FrameReplayBuffer`` slots that hold an episode's first frames or lost a frame of their stack to
      the ring's write head. ``add`` sets both from the indices the buffer reports changed.
    - **Updates come after each gradient step** (``update_priorities``) with the batch's ``indices``. An
      index listed twice in one update takes its last value. An index that stopped being sampleable
      since it was drawn keeps priority 0; one overwritten by a newer transition since (the batch was
      drawn a round ahead) takes the priority meant for the old one, as in Dopamine and OpenAI Baselines.
    - ``state_dict`` adds ``priorities`` (one per index) and ``max_priority`` to the buffer's; a
      state without them (a snapshot of a buffer without prioritization) loads with every stored
      transition at the largest priority.

    Each process of a DDP run has its own buffer, priorities and largest priority.

    Args:
        buffer: the storage: a ``ReplayBuffer``, ``NStepReplayBuffer`` or ``FrameReplayBuffer``.
        alpha: how much prioritization is used, from 0 (uniform) to 1 (fully proportional).
        beta: importance-sampling exponent of the next samples, 0 (no correction) to 1 (full);
            the module anneals it (attribute ``beta``).
        eps: added to each ``|TD error|`` so that no stored transition has priority 0.
    """

    def __init__(self, buffer: IndexedStorage, alpha: float = 0.5, beta: float = 0.4, eps: float = 1e-6) -> None:
        check_unit_interval("priority_alpha", alpha)
        check_unit_interval("priority_beta", beta)
        check_positive("priority_eps", eps)
        self.buffer = buffer
        self.alpha, self.beta, self.eps = float(alpha), float(beta), float(eps)
        self.tree = SumTree(buffer.num_indices)
        self.max_priority = 1.0

    def add(self, *args, **kwargs) -> np.ndarray:
        """``buffer.add``; the transitions it stores get the largest priority, the slots it invalidates 0."""
        changed = self.buffer.add(*args, **kwargs)
        if len(changed):
            self.tree.update(changed, np.where(self.buffer.is_sampleable(changed), self.max_priority, 0.0))
        return changed

    def sample(self, batch_size: int) -> ReplayBatch:
        """Draw ``batch_size`` transitions in proportion to their priority (stratified, with replacement).

        The batch's ``weights`` are its importance weights for the current ``beta`` and its ``indices``
        go back to ``update_priorities``.
        """
        total = self.tree.total
        if not total > 0:
            raise RuntimeError("Cannot sample from an empty PrioritizedReplayBuffer: add transitions first.")
        segments = self.rng.permutation(batch_size) + self.rng.random(batch_size)  # one draw per segment
        indices = self.tree.find(segments * (total / batch_size))
        weights = importance_weights(self.tree.get(indices) / total, len(self.buffer), self.beta)
        batch = self.buffer.gather(indices)
        return batch._replace(weights=torch.from_numpy(weights), indices=torch.from_numpy(indices))

    def update_priorities(self, indices: Tensor | np.ndarray, td_errors: Tensor | np.ndarray) -> None:
        """Set the priorities of transitions just trained on to ``(|td_errors| + eps) ** alpha``.

        Args:
            indices: the batch's ``indices`` (a tensor on any device, or an array).
            td_errors: one error per index: the TD error, or the per-transition loss of a distributional
                agent (Rainbow uses the KL divergence); only its absolute value is used.
        """
        indices, td_errors = _to_numpy(indices).astype(np.int64), _to_numpy(td_errors).astype(np.float64)
        if indices.shape != td_errors.shape:
            raise ValueError(f"update_priorities got {indices.shape} indices but {td_errors.shape} td_errors")
        if not np.isfinite(td_errors).all():
            raise ValueError(f"update_priorities got non-finite td_errors: {td_errors[~np.isfinite(td_errors)][:3]}")
        priorities = (np.abs(td_errors) + self.eps) ** self.alpha
        priorities = np.where(self.buffer.is_sampleable(indices), priorities, 0.0)
        self.tree.update(indices, priorities)
        if len(priorities):
            self.max_priority = max(self.max_priority, float(priorities.max()))

    # ----------------------------------------------------------------- the buffer's interface
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
        return self.buffer.nbytes + self.tree.nodes.nbytes

    @property
    def num_indices(self) -> int:
        return self.buffer.num_indices

    def is_sampleable(self, indices: np.ndarray) -> np.ndarray:
        return self.buffer.is_sampleable(indices)

    def gather(self, indices: np.ndarray) -> ReplayBatch:
        return self.buffer.gather(indices)

    @property
    def beta(self) -> float:
        return self._beta

    @beta.setter
    def beta(self, value: float) -> None:
        check_unit_interval("priority_beta", value)
        self._beta = float(value)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The buffer's state, plus ``priorities`` (one per index, a read-only view) and ``max_priority``."""
        priorities = self.tree.priorities.view()
        priorities.flags.writeable = False
        return self.buffer.state_dict() | {"priorities": priorities, "max_priority": np.float64(self.max_priority)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a ``state_dict``; without ``priorities``, every stored transition gets the largest priority.

        A mismatch raises a ``ValueError`` naming it and changes nothing.
        """
        state = dict(state)
        priorities, max_priority = state.pop("priorities", None), state.pop("max_priority", None)
        if priorities is not None:
            priorities = np.asarray(priorities)
            if priorities.shape != (self.num_indices,):
                raise ValueError(
                    f"the snapshot has {priorities.shape} priorities but this PrioritizedReplayBuffer has "
                    f"({self.num_indices},) indices"
                )
            bad = ~np.isfinite(priorities) | (priorities < 0)
            if bad.any():
                raise ValueError(f"the snapshot's priorities must be finite and >= 0; it holds {priorities[bad][:3]}")
        if max_priority is not None:
            check_non_negative("max_priority", float(max_priority))
        self.buffer.load_state_dict(state)
        if max_priority is not None:
            self.max_priority = float(max_priority)
        sampleable = self.buffer.is_sampleable(np.arange(self.num_indices))
        self.tree.rebuild(np.where(sampleable, self.max_priority if priorities is None else priorities, 0.0))


def _to_numpy(values: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(values, Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)
