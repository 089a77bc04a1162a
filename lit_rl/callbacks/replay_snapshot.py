"""Saving the replay buffer next to each checkpoint, so a resumed DQN run keeps its experience."""

from __future__ import annotations

import errno
import os
import re
import shutil
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import lightning as L
import numpy as np
from lightning.pytorch.utilities import rank_zero_warn

KEY = "lit_rl_replay_snapshot"
PATTERN = re.compile(r"replay-step=(\d+)-rank=(\d+)\.npz")
# zlib level 1: Pong frames shrink ~70x, a 1M ring writes as fast as uncompressed (~10 s on 2 cores) and
# reads faster; level 6 (np.savez_compressed's) takes 2.5x longer for half the size. See
# benchmarks/replay_snapshot_io.py and its results in benchmarks/README.md.
COMPRESSLEVEL = 1


class ReplaySnapshot(L.Callback):
    """Write ``replay-step=N-rank=R.npz`` beside each checkpoint and load it on resume.

    The snapshot is written (to a temporary name, then renamed into place) before Lightning writes
    the checkpoint that names it, so a crash at any moment leaves either the new pair or the
    previous one intact. A checkpoint event that writes two checkpoints of one step (an epoch
    checkpoint and ``last.ckpt``) writes one snapshot that both name. The two newest snapshots of each
    rank are kept: the newest belongs to the checkpoint being written, the one before to the
    checkpoint it replaces; older ones are deleted before the new one is written, so the disk never
    holds three. Deflate-compressed ``.npz`` arrays loaded with ``allow_pickle=False``: loading a
    snapshot runs no code. A checkpoint whose snapshot is missing or does not match resumes with an
    empty buffer, which the collector refills. A disk too full for the snapshot stops training with
    an ``OSError`` (ENOSPC) of one line naming the snapshot and the bytes it needs, and leaves the
    previous snapshot and checkpoint untouched.
    """

    def __init__(self) -> None:
        self._written: tuple[Path, int, tuple] | None = None  # the last snapshot written: path, step, counters

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if trainer.checkpoint_callback is None or pl_module.replay_buffer is None:
            return
        folder = Path(trainer.checkpoint_callback.dirpath)
        folder.mkdir(parents=True, exist_ok=True)
        step, rank = trainer.global_step, trainer.global_rank
        path = folder / f"replay-step={step}-rank={rank}.npz"
        state = pl_module.replay_buffer.state_dict()
        written = (path, step, _counters(state))
        # The second checkpoint of one event (last.ckpt after the epoch checkpoint) finds the buffer unchanged.
        if written != self._written or not path.is_file():
            self._written = None
            _remove_old_snapshots(folder, rank, step)
            write_snapshot(path, {"global_step": np.int64(step), **state})
            self._written = written
        checkpoint[KEY] = {"global_step": step}

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        record = checkpoint.get(KEY)
        if record is None or trainer.ckpt_path is None or pl_module.replay_buffer is None:
            return
        # Rank 0 wrote the checkpoint; every rank saved its own buffer at the same step.
        path = Path(trainer.ckpt_path).parent / f"replay-step={record['global_step']}-rank={trainer.global_rank}.npz"
        try:
            # np.load reads today's deflated snapshots and earlier versions' stored whole-ring ones alike.
            with np.load(path, allow_pickle=False) as snapshot:
                if int(snapshot["global_step"]) != record["global_step"]:
                    raise ValueError(f"it holds step {int(snapshot['global_step'])}, not {record['global_step']}")
                pl_module.replay_buffer.load_state_dict({k: snapshot[k] for k in snapshot.files if k != "global_step"})
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as error:
            rank_zero_warn(f"Replay snapshot {path} could not be loaded ({error}); the buffer will be refilled.")

    def state_dict(self) -> dict[str, Any]:
        return {}


def write_snapshot(path: Path, arrays: Mapping[str, np.ndarray], compresslevel: int = COMPRESSLEVEL) -> int:
    """Write ``arrays`` to ``path`` as a deflate-compressed ``.npz``, through a temporary name; return its size.

    The file is written to ``.NAME.tmp`` beside ``path``, flushed to disk and renamed into place, so
    ``path`` is either the old file or the complete new one. If the disk cannot hold it, an
    ``OSError`` (ENOSPC) of one line names ``path``, the bytes it needs and the bytes free: raised
    before writing when the free space already says so, else when the disk fills. Either way the
    temporary file is removed and nothing else is touched. ``np.load(path, allow_pickle=False)``
    reads it back.

    Args:
        path: the ``.npz`` file to write.
        arrays: the arrays, by name (non-contiguous views are fine).
        compresslevel: zlib level, 1 (fastest) to 9 (smallest).
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    free = shutil.disk_usage(path.parent).free
    if free < _size_bound(arrays):  # it may not fit: compress once without writing to know
        needed = npz_size(arrays, compresslevel)
        if needed > free:
            raise _no_space(path, needed, free)
    try:
        with open(temporary, "wb") as file:
            _write_npz(file, arrays, compresslevel)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        temporary.unlink(missing_ok=True)
        raise _no_space(path, npz_size(arrays, compresslevel), shutil.disk_usage(path.parent).free) from None
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_folder(path.parent)  # the rename reaches the disk before the checkpoint that names the file
    return path.stat().st_size


def npz_size(arrays: Mapping[str, np.ndarray], compresslevel: int = COMPRESSLEVEL) -> int:
    """The size in bytes ``write_snapshot`` gives these arrays, found by compressing them to no file."""
    counter = _ByteCounter()
    _write_npz(counter, arrays, compresslevel)
    return counter.size


def _write_npz(file: BinaryIO, arrays: Mapping[str, np.ndarray], compresslevel: int) -> None:
    # np.savez_compressed's format, with a choice of zlib level (np.savez_compressed always uses 6).
    with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=compresslevel) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _size_bound(arrays: Mapping[str, np.ndarray]) -> int:
    """More bytes than the ``.npz`` of ``arrays`` can take: deflate adds < 0.1% to data it cannot shrink."""
    return sum(np.asarray(a).nbytes * 1001 // 1000 + 4096 for a in arrays.values())


def _no_space(path: Path, needed: int, free: int) -> OSError:
    return OSError(
        errno.ENOSPC,
        f"Replay snapshot {path} needs {needed:,} bytes ({needed / 1e9:.2f} GB) but its disk has {free:,} bytes "
        f"({free / 1e9:.2f} GB) free; free some space (or turn save_replay_buffer off) and resume from the "
        "previous checkpoint, which is intact with its snapshot.",
    )


class _ByteCounter:
    """A seekable binary file that keeps only its length."""

    def __init__(self) -> None:
        self.position = self.size = 0

    def write(self, data: bytes) -> int:
        count = memoryview(data).nbytes
        self.position += count
        self.size = max(self.size, self.position)
        return count

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self.position = offset + {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: self.size}[whence]
        return self.position

    def flush(self) -> None:
        pass


def _counters(state: Mapping[str, np.ndarray]) -> tuple:
    """The small entries of a buffer's ``state_dict`` (sizes, write positions), which every ``add`` changes."""
    return tuple((name, np.asarray(value).tobytes()) for name, value in state.items() if np.size(value) <= 1024)


def _remove_old_snapshots(folder: Path, rank: int, step: int) -> None:
    """Before writing ``step``: keep this rank's newest snapshot of an earlier step, delete older ones.

    Snapshots of later steps (a run resumed from an older checkpoint into the same folder) are left
    alone, and so are temporary files a killed process left behind, except this rank's, which are removed.
    """
    for path in folder.glob(f".replay-step=*-rank={rank}.npz.tmp"):
        path.unlink(missing_ok=True)
    earlier = []
    for path in folder.glob(f"replay-step=*-rank={rank}.npz"):
        match = PATTERN.fullmatch(path.name)
        if match and int(match.group(1)) < step:
            earlier.append((int(match.group(1)), path))
    for _, path in sorted(earlier)[:-1]:
        path.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # a system whose folders cannot be opened (Windows): the rename is as durable as it gets
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
