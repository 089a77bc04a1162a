"""Two CPU processes with DDP (gloo): each rank has its own envs and buffer, one shared model."""

import subprocess
import sys

import numpy as np
from conftest import ROOT


def test_ddp_ranks_share_weights_and_target_networks_but_not_experience(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "tests/ddp_fit.py"), str(tmp_path)], check=True, cwd=tmp_path, timeout=300
    )
    rank0, rank1 = (np.load(tmp_path / f"rank{r}.npz") for r in (0, 1))
    weights = [k for k in rank0.files if k.startswith(("online.", "target."))]
    assert any(k.startswith("target.") for k in weights)
    for key in weights:  # target networks have requires_grad=False: DDP never syncs them
        np.testing.assert_array_equal(rank0[key], rank1[key], err_msg=key)
    # Env steps are global: 2 ranks x 2 envs per vector step, so both ranks count the same total.
    assert rank0["env_steps"] == rank1["env_steps"] >= 2_000
    assert rank0["global_step"] == rank1["global_step"] > 0
    # Seeded apart (seed + rank * num_envs + i), the ranks collected different experience.
    n = min(len(rank0["replay_obs"]), len(rank1["replay_obs"]))
    assert not np.array_equal(rank0["replay_obs"][:n], rank1["replay_obs"][:n])
    # Rank 0's evaluation is broadcast, so every rank reports the same score.
    assert rank0["eval_return"] == rank1["eval_return"]
