"""A tiny deterministic environment whose observations say where they are in which episode."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class CounterEnv(gym.Env):
    """Observation ``[episode, t]``; reward ``t + 1``; every third episode is truncated, not terminated.

    Episode ``k`` lasts ``3 + k % 4`` steps, so sub-environments of a vector env end their
    episodes at different times. The action is ignored.
    """

    observation_space = gym.spaces.Box(0, np.inf, shape=(2,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.episode = -1
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.episode = seed * 1000 - 1  # distinct episode ids per seeded sub-environment
        self.episode += 1
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        done = self.t >= 3 + self.episode % 4
        truncated = done and self.episode % 3 == 2
        return self._obs(), float(self.t), done and not truncated, truncated, {}

    def _obs(self) -> np.ndarray:
        return np.array([self.episode, self.t], dtype=np.float32)


gym.register("LitRLTests/Counter-v0", entry_point=CounterEnv)


class UnboundedActionEnv(gym.Env):
    """A one-step env whose continuous action has infinite bounds (SAC and TD3 must refuse it)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)
    action_space = gym.spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(3, dtype=np.float32), 0.0, True, False, {}


gym.register("LitRLTests/UnboundedActions-v0", entry_point=UnboundedActionEnv)
