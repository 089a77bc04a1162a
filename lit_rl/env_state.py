"""Saving and restoring a vector env's simulators, so that a resumed run continues its episodes.

Only envs whose whole state is plain Python and numpy data can be restored exactly: gymnasium's
classic-control and toy-text envs (CartPole, Acrobot, MountainCar, Pendulum, FrozenLake, Taxi, ...).
Their state, the wrappers' counters (time limit, episode statistics) and the vector env's autoreset
flags are plain attributes, saved here as tensors and numbers (a checkpoint loads with
``weights_only=True``). Atari (ale-py's native vector env keeps its emulators in C++), MuJoCo and Box2D
hold state outside Python attributes; for them ``vector_env_state`` returns ``None`` and a resumed run
starts new episodes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import torch

RESTORABLE_PACKAGES = ("gymnasium.envs.classic_control.", "gymnasium.envs.toy_text.")
# Wall-clock start times of episodes: meaningless in another process, and lit_rl does not read them.
NOT_STATE = frozenset({"episode_start_times"})


def _layers(env: gym.vector.VectorEnv) -> Iterator[tuple[str, Any]]:
    """Every object that holds part of the env's state, with a name that locates it."""
    layer, depth = env, 0
    while not isinstance(layer, gym.vector.SyncVectorEnv):
        yield f"vector/{depth}/{type(layer).__name__}", layer
        layer, depth = layer.env, depth + 1
    yield f"vector/{depth}/{type(layer).__name__}", layer
    for index, sub_env in enumerate(layer.envs):
        depth = 0
        while True:
            yield f"env/{index}/{depth}/{type(sub_env).__name__}", sub_env
            if not isinstance(sub_env, gym.Wrapper):
                break
            sub_env, depth = sub_env.env, depth + 1


def is_restorable(env: gym.vector.VectorEnv) -> bool:
    """Whether every simulator of ``env`` keeps its whole state in plain attributes (see the module doc)."""
    layer = env
    while isinstance(layer, gym.vector.VectorWrapper):
        layer = layer.env
    if not isinstance(layer, gym.vector.SyncVectorEnv):
        return False
    return all(type(sub_env.unwrapped).__module__.startswith(RESTORABLE_PACKAGES) for sub_env in layer.envs)


def _to_saved(value: Any) -> Any:
    """``value`` as checkpoint data, or ``NotImplemented`` when it is not plain state."""
    if isinstance(value, np.generic):  # before the Python types: np.float64 and np.str_ subclass them
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return torch.from_numpy(value.copy())
    if isinstance(value, np.random.Generator):
        return {"bit_generator": value.bit_generator.state}
    if isinstance(value, (list, tuple)):
        items = [_to_saved(item) for item in value]
        if all(item is not NotImplemented for item in items):
            return {"sequence": items, "tuple": isinstance(value, tuple)}
    return NotImplemented


def _from_saved(saved: Any, current: Any) -> Any:
    if isinstance(saved, torch.Tensor):
        return saved.numpy().copy()
    if isinstance(saved, dict) and "bit_generator" in saved:
        current.bit_generator.state = saved["bit_generator"]
        return current
    if isinstance(saved, dict) and "sequence" in saved:
        items = [_from_saved(item, None) for item in saved["sequence"]]
        return tuple(items) if saved["tuple"] else items
    return saved


def vector_env_state(env: gym.vector.VectorEnv) -> dict[str, dict[str, Any]] | None:
    """The simulators', wrappers' and vector env's state as checkpoint data; ``None`` if it cannot be saved."""
    if not is_restorable(env):
        return None
    state = {}
    for name, layer in _layers(env):
        saved = {key: _to_saved(value) for key, value in vars(layer).items() if key not in NOT_STATE}
        state[name] = {key: value for key, value in saved.items() if value is not NotImplemented}
    return state


def restore_vector_env_state(env: gym.vector.VectorEnv, state: dict[str, dict[str, Any]] | None) -> bool:
    """Put ``env`` back into a saved state; ``False`` (and ``env`` untouched) if the state does not fit it."""
    if state is None or not is_restorable(env):
        return False
    layers = dict(_layers(env))
    if layers.keys() != state.keys():  # another env, number of envs or wrapper stack
        return False
    for name, saved in state.items():
        layer = layers[name]
        for key, value in saved.items():
            setattr(layer, key, _from_saved(value, getattr(layer, key, None)))
    return True
