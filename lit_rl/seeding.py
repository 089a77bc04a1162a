"""The run's seed, as set by ``seed_everything`` (``--seed_everything`` on the command line)."""

from __future__ import annotations

import os


def run_seed() -> int:
    """The seed Lightning's ``seed_everything`` recorded, or 0 when none was set."""
    return int(os.environ.get("PL_GLOBAL_SEED", 0))
