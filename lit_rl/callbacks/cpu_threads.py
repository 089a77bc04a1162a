"""The callback that gives torch this process's share of the CPU cores."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info

from lit_rl.checks import check_positive
from lit_rl.cpu import cores_available, threads_per_process


class CpuThreads(L.Callback):
    """Sets torch's intra-op threads in ``setup``: ``torch_threads``, or this process's share of the cores.

    The share is ``OMP_NUM_THREADS`` when set, else the cores this process may use divided by the
    processes the Trainer runs on this machine (``devices``), so that DDP ranks do not each take
    every core. ale-py's native Atari env gets that share as emulator threads (not ``torch_threads``)
    unless ``env_kwargs.num_threads`` says otherwise. The choice is logged once.

    Args:
        torch_threads: intra-op threads per process; ``None`` chooses as above.
    """

    def __init__(self, torch_threads: int | None = None) -> None:
        if torch_threads is not None:
            check_positive("torch_threads", torch_threads)
        self.torch_threads = torch_threads

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        processes = trainer.num_devices
        threads = self.torch_threads or threads_per_process(processes)
        torch.set_num_threads(threads)
        rank_zero_info(
            f"lit_rl: {threads} torch thread(s) per process ({cores_available()} core(s) available, "
            f"{processes} process(es) on this machine); set them with OMP_NUM_THREADS or "
            "lit_rl.CpuThreads(torch_threads=N)."
        )
