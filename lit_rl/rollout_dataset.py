"""An IterableDataset that serves each rollout once, whole, as one batch."""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import IterableDataset

from lit_rl.rollout_buffer import RolloutBatch, RolloutBuffer


class RolloutDataset(IterableDataset):
    """Yields the current rollout, flattened to ``[num_steps * num_envs]`` rows, as one batch.

    One iterator serves exactly one rollout, so one training epoch is one Lightning batch: the
    module runs its own epochs and minibatches over it, and Lightning moves the rollout to the
    device once. Lightning creates the iterator at the start of a training epoch and draws the
    batch before the epoch's hooks run, so the rollout must be complete before the epoch starts
    (the collector fills it in ``on_fit_start`` and ``on_train_epoch_start``). Iterating before a
    rollout was collected, or twice over the same rollout, raises instead of serving stale data.

    Args:
        buffer: the rollout buffer the collector fills.
    """

    def __init__(self, buffer: RolloutBuffer) -> None:
        self.buffer = buffer
        self.served_rollout = -1

    def __iter__(self) -> Iterator[RolloutBatch]:
        buffer = self.buffer
        if not buffer.ready:
            raise RuntimeError("RolloutDataset was iterated before a complete rollout was collected.")
        if buffer.rollout_id == self.served_rollout:
            raise RuntimeError(
                f"rollout {buffer.rollout_id} was already served; no new rollout was collected since."
            )
        self.served_rollout = buffer.rollout_id
        yield buffer.batch()
