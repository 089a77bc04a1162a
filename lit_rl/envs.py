"""Creating gymnasium vector environments, and checking env ids before anything runs."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from lit_rl.checks import ConfigurationError

_ALE_REGISTERED = False


def register_atari_envs() -> None:
    """Make the ``ALE/...`` and ``...NoFrameskip-v4`` ids known to gymnasium (once)."""
    global _ALE_REGISTERED
    if not _ALE_REGISTERED:
        import ale_py

        gym.register_envs(ale_py)
        _ALE_REGISTERED = True


def check_env_id(env_id: str) -> None:
    """Raise a one-line ``ValueError`` if ``env_id`` is not registered. Creates no environment."""
    register_atari_envs()
    from lit_rl import atari  # imported here: lit_rl.atari imports this module

    if atari.is_atari_env_id(env_id):
        atari.atari_game(env_id)  # its error says how to write and list Atari games
        return
    try:
        gym.spec(env_id)
    except gym.error.Error as error:
        raise ConfigurationError(
            f"env_id={env_id!r} is not a registered gymnasium environment ({error}). "
            "List the valid ids with: python -c \"import gymnasium, ale_py; "
            "gymnasium.register_envs(ale_py); gymnasium.pprint_registry()\""
        ) from None


def make_vector_env(
    env_id: str,
    num_envs: int,
    env_kwargs: dict[str, Any] | None = None,
    render_mode: str | None = None,
    num_threads: int | None = None,
) -> gym.vector.VectorEnv:
    """A synchronous vector env with next-step autoreset that reports finished episodes.

    Finished episodes appear in ``info["episode"]`` (``"r"`` return, ``"l"`` length) with the mask
    ``info["_episode"]``: gymnasium's ``RecordEpisodeStatistics`` contract, which every env
    factory in lit_rl honours so that collectors and evaluation read true episode scores.
    Seed it through ``env.reset(seed=s)``: sub-environment ``i`` gets ``s + i``.
    ``render_mode="rgb_array"`` makes ``env.render()`` return one frame per sub-environment.
    ``num_threads`` sets the emulator threads of ale-py's native Atari env unless ``env_kwargs`` does.
    ``Discrete`` observations (FrozenLake, Taxi, CliffWalking) come one-hot encoded (``one_hot``).
    """
    check_env_id(env_id)
    from lit_rl import atari

    env_kwargs = dict(env_kwargs or {})
    if atari.is_atari_env_id(env_id):  # frame stacks, true game scores; env_kwargs as make_atari_vector_env's
        if render_mode is not None:  # only the gymnasium backend renders; it gives the same observations
            env_kwargs.update(backend="gymnasium", render_mode=render_mode)
        if num_threads is not None:
            env_kwargs.setdefault("num_threads", num_threads)
        return atari.make_atari_vector_env(env_id, num_envs, **env_kwargs)
    if render_mode is not None:
        env_kwargs["render_mode"] = render_mode
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync", **env_kwargs)
    if isinstance(env.single_observation_space, spaces.Discrete):  # FrozenLake, Taxi, CliffWalking
        env = OneHotObservation(env)
    return gym.wrappers.vector.RecordEpisodeStatistics(env)


def one_hot(observations: Any, space: spaces.Discrete) -> np.ndarray:
    """Observations of a ``Discrete`` space as float32 one-hot vectors of size ``space.n``.

    lit_rl's networks see ``Discrete`` observations so (``make_vector_env`` encodes them, as SB3
    does): an agent deployed on the raw env encodes its observations with this before ``act``.

    >>> one_hot(np.array([0, 2]), spaces.Discrete(3))
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    index = np.asarray(observations, dtype=np.int64) - space.start
    if index.size and (index.min() < 0 or index.max() >= space.n):
        raise ValueError(f"observations {observations!r} are not all in {space}.")
    return np.eye(space.n, dtype=np.float32)[index]


class OneHotObservation(gym.vector.VectorObservationWrapper):
    """Encodes a vector env's ``Discrete(n)`` observations as float32 one-hot vectors (``Box(0, 1, (n,))``).

    A state index is a label, not a quantity: fed to an MLP as a number, state 5 would look
    "between" states 4 and 6. Every lit_rl algorithm gets the one-hot vector instead.
    """

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        super().__init__(env)
        if not isinstance(env.single_observation_space, spaces.Discrete):
            raise ValueError(f"OneHotObservation needs Discrete observations, not {env.single_observation_space}.")
        self.discrete_space = env.single_observation_space
        self.single_observation_space = spaces.Box(0.0, 1.0, (int(self.discrete_space.n),), np.float32)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)

    def observations(self, observations: np.ndarray) -> np.ndarray:
        return one_hot(observations, self.discrete_space)


def episodes_ended(info: dict[str, Any], num_envs: int) -> np.ndarray:
    """Which sub-environments ended an episode this step, so that their next step only resets them.

    Read from the episode records (``info["_episode"]``), not from ``terminated | truncated``: with
    life-loss terminals (Atari's ``episodic_life``) a lost life ends the TD episode but the game, and
    the env, go on, and the next step is a real transition. Except in games that wait for FIRE after
    a lost life (``info["life_reset"]``, see ``lit_rl.atari.TrueScores``): there the next step
    presses FIRE whatever the action, and only serves the next life, as a reset would.
    """
    ended = np.zeros(num_envs, dtype=bool)
    if "_episode" in info:
        ended |= np.asarray(info["_episode"], dtype=bool)
    if "life_reset" in info:
        ended |= np.asarray(info["life_reset"], dtype=bool)
    return ended
