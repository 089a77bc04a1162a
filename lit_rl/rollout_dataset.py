"""An IterableDataset that serves one rollout as shuffled minibatches."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import IterableDataset

from lit_rl.checks import check_positive
from lit_rl.rollout_buffer import RolloutBatch, RolloutBuffer


class RolloutDataset(IterableDataset):
    """Yields ``update_epochs`` shuffled passes over the current rollout, ``num_minibatches`` each.

    One iterator serves exactly one rollout. Lightning creates the iterator at the start of a
    training epoch and draws every batch one step ahead, so the rollout must be complete before
    the epoch starts (the collector fills it in ``on_fit_start`` and ``on_train_epoch_end``).
    Should a new rollout start while an iterator is still being drawn from, the iterator raises
    instead of serving a minibatch from a rollout the policy has already moved past.
    """

    def __init__(
        self, buffer: RolloutBuffer, update_epochs: int, num_minibatches: int, seed: int = 0
    ) -> None:
        check_positive("update_epochs", update_epochs)
        check_positive("num_minibatches", num_minibatches)
        if len(buffer) % num_minibatches:
            raise ValueError(
                f"num_minibatches={num_minibatches} is invalid: the rollout of {len(buffer)} steps must "
                "split into whole minibatches."
            )
        self.buffer = buffer
        self.update_epochs = update_epochs
        self.num_minibatches = num_minibatches
        self.generator = torch.Generator().manual_seed(seed)
        self.stopped_rollout = -1
        self.served_rollout = -1

    def stop_serving(self, rollout_id: int) -> None:
        """End the passes over rollout ``rollout_id`` early (e.g. PPO's ``target_kl``).

        The minibatch Lightning has already drawn ahead is still served.
        """
        self.stopped_rollout = rollout_id

    def __iter__(self) -> Iterator[RolloutBatch]:
        buffer = self.buffer
        if not buffer.ready:
            raise RuntimeError("RolloutDataset was iterated before a complete rollout was collected.")
        rollout_id = buffer.rollout_id
        if rollout_id == self.served_rollout:
            raise RuntimeError(f"rollout {rollout_id} was already served; no new rollout was collected since.")
        self.served_rollout = rollout_id
        size = len(buffer) // self.num_minibatches
        for _ in range(self.update_epochs):
            order = torch.randperm(len(buffer), generator=self.generator)
            for start in range(0, len(buffer), size):
                if self.stopped_rollout == rollout_id:
                    return
                if buffer.rollout_id != rollout_id or not buffer.ready:
                    raise RuntimeError(
                        f"rollout {rollout_id} was replaced by rollout {buffer.rollout_id} while its "
                        "minibatches were being served; collect rollouts only between training epochs."
                    )
                yield buffer.minibatch(order[start : start + size])

    # No __len__ on purpose: Lightning then ends the epoch, and validates, when the iterator ends,
    # also when stop_serving ended it early; with a length it would wait for the last batch index.
