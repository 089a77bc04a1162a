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
    few transitions collected since; for off-policy learning that is harmless.
    """

    def __init__(self, buffer: SamplesBatches, batch_size: int, batches_per_epoch: int) -> None:
        check_positive("batch_size", batch_size)
        check_positive("batches_per_epoch", batches_per_epoch)
        self.buffer = buffer
        self.batch_size = batch_size
        self.batches_per_epoch = batches_per_epoch

    def __iter__(self) -> Iterator[ReplayBatch]:
        for _ in range(self.batches_per_epoch):
            yield self.buffer.sample(self.batch_size)

    def __len__(self) -> int:
        return self.batches_per_epoch
