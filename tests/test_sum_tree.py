"""SumTree: prefix-sum search against np.searchsorted, batched updates (repeats: last write wins), exact sums."""

import numpy as np
import pytest

from lit_rl.sum_tree import SumTree


@pytest.mark.parametrize("capacity", [1, 2, 5, 1000])
def test_find_matches_searchsorted_on_the_cumulative_sum(capacity):
    rng = np.random.default_rng(capacity)
    priorities = rng.integers(0, 4, size=capacity).astype(np.float64)  # integers: every sum is exact
    priorities[-1] = max(priorities[-1], 1.0)  # not an empty tree
    tree = SumTree(capacity)
    tree.update(np.arange(capacity), priorities)
    cumsum = np.cumsum(priorities)
    assert tree.total == cumsum[-1]
    # Random targets, every boundary between leaves exactly, and the largest float below the total.
    targets = np.concatenate([rng.random(2000) * cumsum[-1], cumsum[:-1], [0.0, np.nextafter(cumsum[-1], 0)]])
    found = tree.find(targets)
    np.testing.assert_array_equal(found, np.searchsorted(cumsum, targets, side="right"))
    assert (priorities[found] > 0).all()


def test_leaves_of_priority_zero_are_never_found_even_for_targets_rounded_onto_the_total():
    tree = SumTree(10)
    priorities = np.array([0.1, 0.0, 0.2, 0.3, 0.0, 0.7, 0.1, 0.0, 0.0, 0.0])  # sums that round
    tree.update(np.arange(10), priorities)
    targets = np.array([tree.total, tree.total * (1 + 1e-12), np.nextafter(tree.total, 0), 0.1, 0.3, 0.6])
    found = tree.find(targets)
    assert (priorities[found] > 0).all(), found
    assert found[:3].tolist() == [6, 6, 6]  # the last leaf with a positive priority


def test_a_repeated_index_takes_its_last_value_and_the_sums_follow():
    tree = SumTree(8)
    tree.update(np.arange(8), np.ones(8))
    tree.update(np.array([3, 5, 3, 3, 5]), np.array([10.0, 20.0, 30.0, 7.0, 2.0]))
    np.testing.assert_array_equal(tree.priorities, [1, 1, 1, 7, 1, 2, 1, 1])
    assert tree.total == 15.0
    tree.update(np.array([0, 0]), 4.0)  # one value for all indices
    assert tree.get(np.array([0])).tolist() == [4.0] and tree.total == 18.0


def test_many_batched_updates_leave_the_tree_exactly_the_sums_of_its_leaves():
    rng = np.random.default_rng(0)
    capacity = 1000  # not a power of two: the padding leaves stay 0
    tree, one_at_a_time = SumTree(capacity), SumTree(capacity)
    for _ in range(300):
        indices = rng.integers(0, capacity, size=32)  # repeats within a batch are likely
        values = rng.random(32) ** 3
        tree.update(indices, values)
        for index, value in zip(indices, values, strict=True):
            one_at_a_time.update(np.array([index]), np.array([value]))
    np.testing.assert_array_equal(tree.nodes, one_at_a_time.nodes)
    rebuilt = SumTree(capacity)
    rebuilt.rebuild(tree.priorities.copy())
    np.testing.assert_array_equal(rebuilt.nodes, tree.nodes)  # bit for bit: no drift from the updates
    assert abs(tree.total - tree.priorities.sum()) < 1e-9


def test_bad_input_is_refused():
    tree = SumTree(4)
    with pytest.raises(IndexError, match=r"\[0, 4\); got 2..4"):
        tree.update(np.array([2, 4]), np.ones(2))
    with pytest.raises(ValueError, match=r"finite and >= 0; got \[-1.0\]"):
        tree.update(np.array([0, 1]), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"got \[nan\]"):
        tree.update(np.array([0]), np.array([np.nan]))
    with pytest.raises(ValueError, match="needs 4 priorities"):
        tree.rebuild(np.ones(3))
    with pytest.raises(ValueError, match="capacity=0"):
        SumTree(0)
    assert tree.total == 0.0  # nothing was written
