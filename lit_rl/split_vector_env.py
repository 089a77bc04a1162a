"""A vector env in two halves, so that one half's emulators run while the policy acts for the other."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

StepResult = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]


class SplitVectorEnv(gym.vector.VectorEnv):
    """Two vector envs seen as one of ``num_envs`` sub-environments: the first half's, then the second's.

    ``reset`` and ``step`` behave as one synchronous vector env: sub-environment ``i`` is seeded
    ``seed + i`` and every step steps all of them. ``send(half, actions)`` and ``recv(half)`` step one
    half at a time; ale-py's native env runs its emulators in C++ threads between the two calls, so a
    collector can compute the other half's actions meanwhile (``RolloutCollector`` with
    ``overlap_env_steps``). Each half must have ``send`` and ``recv`` (lit_rl's native Atari env does).

    Args:
        halves: the two vector envs, with the same spaces.
    """

    def __init__(self, halves: tuple[gym.vector.VectorEnv, gym.vector.VectorEnv]) -> None:
        first, second = halves
        for half in halves:
            if not (hasattr(half, "send") and hasattr(half, "recv")):
                raise TypeError(f"{type(half).__name__} cannot step asynchronously: it has no send/recv.")
        if first.single_observation_space != second.single_observation_space:
            raise ValueError("The two halves must have the same observation space.")
        self.halves = halves
        self.sizes = (first.num_envs, second.num_envs)
        self.slices = (slice(0, first.num_envs), slice(first.num_envs, first.num_envs + second.num_envs))
        self.num_envs = sum(self.sizes)
        self.single_observation_space = first.single_observation_space
        self.single_action_space = first.single_action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self.metadata = first.metadata

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        results = []
        for half, part in zip(self.halves, self.slices, strict=True):
            half_options = dict(options or {})
            if "reset_mask" in half_options:
                half_options["reset_mask"] = np.asarray(half_options["reset_mask"])[part]
            results.append(half.reset(seed=None if seed is None else seed + part.start, options=half_options))
        return np.concatenate([obs for obs, _ in results]), self.join_infos(*(info for _, info in results))

    def send(self, half: int, actions: np.ndarray) -> None:
        """Start a step of ``half`` (0 or 1) with its sub-environments' actions."""
        self.halves[half].send(actions)

    def recv(self, half: int) -> StepResult:
        """Finish the step of ``half`` that ``send`` started: its sub-environments' results."""
        return self.halves[half].recv()

    def step(self, actions: np.ndarray) -> StepResult:
        for half, part in enumerate(self.slices):
            self.send(half, actions[part])
        return self.concat_steps(self.recv(0), self.recv(1))

    def concat_steps(self, first: StepResult, second: StepResult) -> StepResult:
        """The two halves' results of one step as one vector env's."""
        obs, rewards, terminated, truncated = (np.concatenate(pair) for pair in zip(first[:4], second[:4], strict=True))
        return obs, rewards, terminated, truncated, self.join_infos(first[4], second[4])

    def join_infos(self, first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
        info = concat_infos([first, second], self.sizes)
        if "env_id" in info:  # ale-py numbers each half's envs from 0
            info["env_id"][self.slices[1]] += self.sizes[0]
        return info

    def close(self, **kwargs: Any) -> None:
        for half in self.halves:
            half.close(**kwargs)


def concat_infos(infos: list[dict[str, Any]], sizes: tuple[int, ...]) -> dict[str, Any]:
    """Per-sub-environment info arrays of vector envs, joined in order; a key one env lacks reads as zeros there.

    >>> concat_infos([{"_episode": np.array([True])}, {}], (1, 2))["_episode"]
    array([ True, False, False])
    """
    merged: dict[str, Any] = {}
    for key in dict.fromkeys(key for info in infos for key in info):
        values = [info.get(key) for info in infos]
        if any(isinstance(value, dict) for value in values):
            merged[key] = concat_infos([value or {} for value in values], sizes)
            continue
        template = np.asarray(next(value for value in values if value is not None))
        merged[key] = np.concatenate([
            np.asarray(value) if value is not None else np.zeros((size, *template.shape[1:]), template.dtype)
            for value, size in zip(values, sizes, strict=True)
        ])  # fmt: skip
    return merged
