"""An IterableDataset that serves batches sampled from a replay buffer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from torch.utils.data import IterableDataset

from lit_rl.checks import check_positive
from lit_rl.replay_buffer import ReplayBatch


class SamplesBatches(Protocol):
    def sample(self, batch_size: int) -> ReplayBatch: ...


class ReplayDataset(IterableDataset):
    """Yields ``batches_per_epoch`` batches of ``batch_size`` transitions per pass.

    The DataLoader must use ``batch_size=None`` (batches come out ready) and ``num_workers=0``:
    the buffer is filled in the training process, and a worker process would see a stale copy.
    Lightning draws each batch one step ahead of ``on_train_batch_start``, so a batch may miss the
    few transitions collected since; for off-policy learning that is harmless. For an exact resume
    the module reports each batch it trained on (``mark_trained``), checkpoints the batch drawn ahead
    (``unused_batch``) and hands it back to the resumed run's dataset (``serve_first``).
    """

    def __init__(self, buffer: SamplesBatches, batch_size: int, batches_per_epoch: int) -> None:
        check_positive("batch_size", batch_size)
        check_positive("batches_per_epoch", batches_per_epoch)
        self.buffer = buffer
        self.batch_size = batch_size
        self.batches_per_epoch = batches_per_epoch
        self.drawn = self.trained = 0
        self.last_batch: ReplayBatch | None = None
        self.first_batch: ReplayBatch | None = None

    def __iter__(self) -> Iterator[ReplayBatch]:
        for _ in range(self.batches_per_epoch):
            batch, self.first_batch = self.first_batch, None
            if batch is None:
                batch = self.buffer.sample(self.batch_size)
            self.drawn += 1
            self.last_batch = batch
            yield batch

    def __len__(self) -> int:
        return self.batches_per_epoch

    def mark_trained(self) -> None:
        """Count one served batch as trained on."""
        self.trained += 1

    def unused_batch(self) -> ReplayBatch | None:
        """The batch drawn ahead of training (Lightning prefetches one) and not trained on yet, if any."""
        return self.last_batch if self.drawn > self.trained else None

    def serve_first(self, batch: ReplayBatch) -> None:
        """Serve ``batch`` before sampling again: the unused batch of the run this one resumes."""
        self.first_batch = batch
