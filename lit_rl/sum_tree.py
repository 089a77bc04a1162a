"""A sum tree: priorities whose prefix sums are searched and updated in O(log N), a batch at a time."""

from __future__ import annotations

import numpy as np

from lit_rl.checks import check_positive


class SumTree:
    """``capacity`` non-negative priorities in the leaves of a binary tree whose nodes hold their children's sum.

    The tree lives in one float64 array: node ``i`` has children ``2i`` and ``2i + 1``, the root is
    node 1, and leaf ``j`` is node ``2**depth + j``. Batched calls walk the ``depth = ceil(log2(capacity))``
    levels once, each level one vectorized numpy operation over the whole batch, so a batch of ``B``
    costs ``O(B log N)`` with ``log N`` numpy calls and no Python loop over its rows.

    Every inner node is always exactly ``left + right`` of its children's current values (an update
    recomputes the sums on its path instead of adding differences), so the tree is a function of its
    leaves: no rounding error accumulates over millions of updates, and ``rebuild`` from saved
    leaves restores it bit for bit.

    >>> tree = SumTree(4)
    >>> tree.update(np.array([0, 1, 2, 3]), np.array([1.0, 0.0, 2.0, 1.0]))
    >>> tree.total
    4.0
    >>> tree.find(np.array([0.0, 0.99, 1.0, 2.5, 3.0])).tolist()  # leaf 1 (priority 0) is never found
    [0, 0, 2, 2, 3]

    Args:
        capacity: number of leaves.
    """

    def __init__(self, capacity: int) -> None:
        check_positive("capacity", capacity)
        self.capacity = int(capacity)
        self.depth = (self.capacity - 1).bit_length()  # ceil(log2(capacity)); 0 for one leaf (the root)
        self.first_leaf = 1 << self.depth
        self.nodes = np.zeros(2 * self.first_leaf, dtype=np.float64)  # nodes[0] is unused

    @property
    def total(self) -> float:
        """The sum of all priorities."""
        return float(self.nodes[1])

    @property
    def priorities(self) -> np.ndarray:
        """The ``capacity`` leaf priorities (a view: write them with ``update`` or ``rebuild`` only)."""
        return self.nodes[self.first_leaf : self.first_leaf + self.capacity]

    def get(self, indices: np.ndarray) -> np.ndarray:
        """The priorities of leaves ``indices``."""
        return self.nodes[self.first_leaf + np.asarray(indices)]

    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Set leaf ``indices[k]`` to ``priorities[k]`` and the sums above them.

        A leaf that appears more than once takes the value of its last appearance (last write wins),
        as if the pairs were written one after the other.

        Args:
            indices: leaf indices in ``[0, capacity)``, any order, repeats allowed.
            priorities: non-negative finite values, one per index (or one for all).
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(indices) == 0:
            return
        priorities = np.broadcast_to(np.asarray(priorities, dtype=np.float64), indices.shape)
        if indices.min() < 0 or indices.max() >= self.capacity:
            raise IndexError(f"SumTree indices must lie in [0, {self.capacity}); got {indices.min()}..{indices.max()}")
        bad = ~np.isfinite(priorities) | (priorities < 0)
        if bad.any():
            raise ValueError(f"SumTree priorities must be finite and >= 0; got {priorities[bad][:3].tolist()}")
        # np.unique keeps each value's first appearance: on the reversed batch, that is the last write.
        leaves, last = np.unique(indices[::-1], return_index=True)
        nodes = self.nodes
        leaves += self.first_leaf
        nodes[leaves] = priorities[::-1][last]
        # The ancestors of every leaf, one row per level from the parents up to the root, computed at once.
        ancestors = leaves >> np.arange(1, self.depth + 1)[:, None]
        left = ancestors << 1
        right = left + 1
        for level in range(self.depth):  # bottom-up: each level's sums read the level below, just written
            nodes[ancestors[level]] = nodes[left[level]] + nodes[right[level]]

    def rebuild(self, priorities: np.ndarray) -> None:
        """Set all ``capacity`` leaves at once and recompute every sum, level by level (``O(N)``)."""
        priorities = np.asarray(priorities, dtype=np.float64)
        if priorities.shape != (self.capacity,):
            raise ValueError(f"SumTree.rebuild needs {self.capacity} priorities, got shape {priorities.shape}")
        if not (np.isfinite(priorities).all() and (priorities >= 0).all()):
            raise ValueError("SumTree priorities must be finite and >= 0")
        self.nodes[:] = 0.0
        self.priorities[:] = priorities
        for level in range(self.depth - 1, -1, -1):  # the same left + right sums as update() computes
            start = 1 << level
            children = self.nodes[2 * start : 4 * start]
            self.nodes[start : 2 * start] = children[0::2] + children[1::2]

    def find(self, targets: np.ndarray) -> np.ndarray:
        """For each prefix-sum target ``u`` in ``[0, total)``, the leaf ``j`` with ``sum(p[:j]) <= u < sum(p[:j+1])``.

        That is ``np.searchsorted(np.cumsum(p), u, side="right")``, found in ``depth`` vectorized steps.
        A leaf of priority 0 is never returned, even for a target rounded onto a boundary or ``u >= total``:
        the walk only enters subtrees whose sum is positive. The tree must not be empty (``total > 0``).
        """
        targets = np.asarray(targets, dtype=np.float64)
        leaves = self._walk(targets, guarded=False)
        # Rounding can lead a target just past the end of a subtree whose right part is all zeros: the
        # fast walk then ends on a leaf of priority 0. Only those targets walk again, entering positive
        # subtrees only, which is where the fast walk goes whenever it does not end on a zero.
        missed = self.nodes[leaves + self.first_leaf] == 0
        if missed.any():
            leaves[missed] = self._walk(targets[missed], guarded=True)
        return leaves

    def _walk(self, targets: np.ndarray, guarded: bool) -> np.ndarray:
        """Descend from the root: left while the target is below the left subtree's sum, else right."""
        targets = targets.copy()  # the walk subtracts from it
        nodes = np.ones(len(targets), dtype=np.int64)
        tree = self.nodes
        for _ in range(self.depth):
            nodes <<= 1  # the left child
            left_sum = tree[nodes]
            go_right = targets >= left_sum
            if guarded:
                go_right &= tree[nodes + 1] > 0
            targets -= left_sum * go_right
            nodes += go_right
        return nodes - self.first_leaf
