import logging
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import counter_env  # noqa: E402,F401  (registers LitRLTests/Counter-v0)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _quiet_and_single_threaded():
    # Two cores are shared by the env, the network and pytest: one torch thread is fastest here.
    torch.set_num_threads(1)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    yield
