"""Playing whole evaluation episodes with a fixed policy."""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np


def evaluate_episodes(
    policy: Callable[[np.ndarray], np.ndarray], env: gym.vector.VectorEnv, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Play exactly one episode in each sub-environment of ``env``; return their returns and lengths.

    Every sub-environment contributes its first episode only. Taking the first ``n`` episodes to
    finish instead would favour short episodes and bias the mean score.
    """
    obs, _ = env.reset(seed=seed)
    returns = np.zeros(env.num_envs, dtype=np.float64)
    lengths = np.zeros(env.num_envs, dtype=np.int64)
    finished = np.zeros(env.num_envs, dtype=bool)
    while not finished.all():
        obs, _, _, _, info = env.step(policy(obs))
        if "episode" in info:
            newly_finished = info["_episode"] & ~finished
            returns[newly_finished] = info["episode"]["r"][newly_finished]
            lengths[newly_finished] = info["episode"]["l"][newly_finished]
            finished |= newly_finished
    return returns, lengths
