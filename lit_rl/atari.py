"""Atari 2600 games from pixels: ale-py's native vector env, or gymnasium's wrappers, same frames.

Two id forms are accepted; both give ``[4, 84, 84]`` uint8 stacks of grayscale frames, one agent
step per 4 emulator frames (max-pooled over the last two), up to 30 random no-ops at reset:

- ``ALE/<Game>-v5`` (e.g. ``ALE/Pong-v5``): sticky actions, the emulator repeats the previous
  action with probability 0.25 (Machado et al. 2018, the modern evaluation protocol).
- ``<Game>NoFrameskip-v4`` (e.g. ``PongNoFrameskip-v4``): no sticky actions, as in the Nature DQN
  paper, CleanRL and Stable-Baselines3 (there the name means the base env skips no frames: the
  4-frame skip is the preprocessing's).

List the games with ``python -c "import ale_py.roms; print(ale_py.roms.get_all_rom_ids())"``.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

import gymnasium as gym
import numpy as np

from lit_rl.checks import ConfigurationError
from lit_rl.envs import register_atari_envs

ATARI_BACKENDS = ("native", "gymnasium")
FRAME_STACK = 4
SCREEN_SIZE = 84
LIST_GAMES = 'python -c "import ale_py.roms; print(ale_py.roms.get_all_rom_ids())"'


def is_atari_env_id(env_id: str) -> bool:
    """Whether ``env_id`` has one of the two Atari forms that lit_rl preprocesses into frame stacks."""
    return env_id.startswith("ALE/") or env_id.endswith("NoFrameskip-v4")


def is_native_atari(env_id: str, env_kwargs: dict[str, Any] | None) -> bool:
    """Whether ``make_vector_env(env_id, ..., env_kwargs)`` gives ale-py's native C++ vector env."""
    return is_atari_env_id(env_id) and (env_kwargs or {}).get("backend", "native") == "native"


def atari_game(env_id: str) -> tuple[str, float]:
    """The ROM name and the sticky-action probability of an Atari ``env_id``. Creates no environment."""
    register_atari_envs()
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as error:
        raise ConfigurationError(
            f"env_id={env_id!r} is not a known Atari game ({error}). Write a game as ALE/<Game>-v5 "
            f"or <Game>NoFrameskip-v4, e.g. ALE/Pong-v5; list the games with: {LIST_GAMES}"
        ) from None
    if spec.entry_point != "ale_py.env:AtariEnv" or not (env_id.endswith("-v5") or env_id.endswith("-v4")):
        raise ConfigurationError(
            f"env_id={env_id!r} is not a supported Atari id: write ALE/<Game>-v5 or <Game>NoFrameskip-v4."
        )
    return spec.kwargs["game"], float(spec.kwargs["repeat_action_probability"])


def make_atari_vector_env(
    env_id: str,
    num_envs: int,
    backend: str = "native",
    episodic_life: bool = False,
    reward_clipping: bool = True,
    noop_max: int = 30,
    frame_skip: int = 4,
    fire_reset: bool = True,
    repeat_action_probability: float | None = None,
    max_episode_frames: int = 108_000,
    num_threads: int = 0,
    render_mode: str | None = None,
    **unknown: Any,
) -> gym.vector.VectorEnv:
    """A vector env of Atari frame stacks that reports true game scores.

    Finished games appear in ``info["episode"]`` (``"r"`` unclipped score, ``"l"`` agent steps) with
    the mask ``info["_episode"]`` (gymnasium's ``RecordEpisodeStatistics`` contract), whatever
    ``reward_clipping`` and ``episodic_life`` do to the training signal. Its keyword arguments are
    the ``env_kwargs`` of an Atari ``env_id`` (e.g. ``DQN(env_kwargs={"episodic_life": True})``).

    Args:
        env_id: ``ALE/<Game>-v5`` (sticky actions) or ``<Game>NoFrameskip-v4`` (none).
        num_envs: sub-environments.
        backend: ``native`` (ale-py's C++ vector env, fastest) or ``gymnasium`` (``AtariPreprocessing``
            and ``FrameStackObservation`` in a sync vector env; needs opencv; use it for ``render_mode``).
        episodic_life: report ``terminated`` when a life is lost, so the TD target does not bootstrap
            over it; the game goes on, and the episode record still covers the whole game. With
            ``fire_reset``, games that wait for FIRE to serve again get it, as after a reset (see
            ``TrueScores``).
        reward_clipping: train on rewards clipped to [-1, 1] (Nature DQN); scores stay unclipped.
        noop_max: at most this many no-op actions after each reset.
        frame_skip: emulator frames per agent step (max-pooled over the last two).
        fire_reset: press FIRE after each reset in games that have it (Breakout waits for it) and,
            with ``episodic_life``, after each lost life (as SB3's and CleanRL's wrappers do).
        repeat_action_probability: sticky-action probability; ``None`` takes the id's (0.25 or 0).
        max_episode_frames: emulator frames after which a game is truncated (108,000 = 30 minutes).
        num_threads: threads of the native backend (0: one per core).
        render_mode: gymnasium render mode (e.g. ``rgb_array`` for video); gymnasium backend only.
    """
    if unknown:
        valid = ", ".join(list(inspect.signature(make_atari_vector_env).parameters)[2:-1])
        raise ConfigurationError(f"env_kwargs {sorted(unknown)} are not Atari env options; valid ones: {valid}.")
    game, sticky = atari_game(env_id)
    sticky = sticky if repeat_action_probability is None else repeat_action_probability
    if backend not in ATARI_BACKENDS:
        raise ConfigurationError(
            f"backend={backend!r} is invalid: choose one of {', '.join(map(repr, ATARI_BACKENDS))}."
        )
    if backend == "native":
        if render_mode is not None:
            raise ConfigurationError(
                f"render_mode={render_mode!r} needs backend='gymnasium': the native env cannot render."
            )
        from ale_py.vector_env import AtariVectorEnv

        env = AtariVectorEnv(
            game, num_envs, num_threads=num_threads, repeat_action_probability=sticky,
            max_num_frames_per_episode=max_episode_frames, img_height=SCREEN_SIZE, img_width=SCREEN_SIZE,
            stack_num=FRAME_STACK, frameskip=frame_skip, noop_max=noop_max, use_fire_reset=fire_reset,
            # ale-py's episodic_life resets the whole game at each lost life (ale-py 0.12) and its
            # reward_clipping hides the score: TrueScores does both from real game ends and rewards.
            episodic_life=False, life_loss_info=False, reward_clipping=False,
        )  # fmt: skip
        meanings = [action.name for action in env.ale.get_action_set()]
    else:

        def preprocess(env: gym.Env) -> gym.Env:
            env = gym.wrappers.AtariPreprocessing(
                env, noop_max=noop_max, frame_skip=frame_skip, screen_size=SCREEN_SIZE
            )
            env = FireReset(env) if fire_reset else env
            # Zero padding at reset, as the native env does.
            return gym.wrappers.FrameStackObservation(env, FRAME_STACK, padding_type="zero")

        env = gym.make_vec(
            env_id, num_envs, vectorization_mode="sync", wrappers=[preprocess], frameskip=1,
            repeat_action_probability=sticky, max_num_frames_per_episode=max_episode_frames,
            render_mode=render_mode,
        )  # fmt: skip
        meanings = env.call("get_action_meanings")[0]
    # After a lost life, FIRE serves again in the games that need it; the native env presses it only at reset.
    fire_action = meanings.index("FIRE") if fire_reset and episodic_life and "FIRE" in meanings else None
    return TrueScores(env, episodic_life=episodic_life, reward_clipping=reward_clipping, fire_action=fire_action)


class FireReset(gym.Wrapper):
    """Presses FIRE once after each reset, in games whose action 1 is FIRE (the native env's fire reset)."""

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        meanings = self.env.unwrapped.get_action_meanings()
        if len(meanings) > 1 and meanings[1] == "FIRE":
            obs, _, terminated, truncated, info = self.env.step(1)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        return obs, info


class TrueScores(gym.vector.VectorWrapper):
    """Reports whole-game unclipped scores; optionally clips rewards and ends episodes at life losses.

    The wrapped env must return raw rewards, ``terminated`` only at game over, and ``info["lives"]``.
    Finished games are reported as gymnasium's ``RecordEpisodeStatistics`` reports episodes.

    With ``episodic_life`` and a ``fire_action``, a lost life is handled as a next-step autoreset
    that serves the next life: the sub-environment's next step presses FIRE whatever action it is
    given, and is not a transition (the TD episode ended at the lost life; the next one starts from
    the served ball). ``info["life_reset"]`` marks the steps whose next step is such a serve, and
    ``lit_rl.envs.episodes_ended`` counts them with the episode ends. Without it, games such as
    Breakout wait for FIRE after each lost life, and a policy that does not press it there (a greedy
    one that never had to) plays on to truncation. The serve's reward and step count in the game's
    score and length.

    Args:
        env: a next-step-autoreset vector env of an Atari game.
        episodic_life: also return ``terminated=True`` when a life is lost (the game is not reset).
        reward_clipping: return rewards clipped to [-1, 1].
        fire_action: the action that serves after a lost life (FIRE), or ``None`` for none; used
            with ``episodic_life`` only.
    """

    def __init__(
        self,
        env: gym.vector.VectorEnv,
        episodic_life: bool = False,
        reward_clipping: bool = True,
        fire_action: int | None = None,
    ) -> None:
        super().__init__(env)
        self.episodic_life = episodic_life
        self.reward_clipping = reward_clipping
        self.fire_action = fire_action if episodic_life else None
        n = self.num_envs
        self.scores = np.zeros(n, dtype=np.float64)
        self.lengths = np.zeros(n, dtype=np.int64)
        self.start_times = np.zeros(n, dtype=np.float64)
        self.game_over = np.zeros(n, dtype=bool)
        self.lives = np.zeros(n, dtype=np.int64)
        self.serving = np.zeros(n, dtype=bool)  # whose next step presses FIRE after a lost life
        self.pending_actions: np.ndarray | None = None  # between send and recv, when the env has no send

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        reset = (options or {}).get("reset_mask", np.ones(self.num_envs, dtype=bool))
        self.scores[reset], self.lengths[reset], self.start_times[reset] = 0.0, 0, time.perf_counter()
        self.game_over[reset], self.serving[reset] = False, False
        self.lives[reset] = np.asarray(info["lives"], dtype=np.int64)[reset]  # envs not reset keep theirs
        return obs, info

    def step(self, actions: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        self.send(actions)
        return self.recv()

    def send(self, actions: np.ndarray) -> None:
        """Start a step: the native env's emulators run in C++ threads until ``recv``; Python is free meanwhile."""
        if self.serving.any():  # a new array: the caller's actions are what the agent chose
            actions = np.where(self.serving, self.fire_action, actions).astype(np.asarray(actions).dtype)
        if hasattr(self.env, "send"):
            self.env.send(actions)
        else:  # gymnasium's sync vector env steps in recv
            self.pending_actions = actions

    def recv(self) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Finish the step that ``send`` started."""
        if hasattr(self.env, "recv"):
            obs, rewards, terminated, truncated, info = self.env.recv()
        else:
            obs, rewards, terminated, truncated, info = self.env.step(self.pending_actions)
        rewards = np.asarray(rewards, dtype=np.float64)
        # With next-step autoreset, the step after a game over only resets that env: a new game starts.
        new_game = self.game_over
        self.scores[new_game], self.lengths[new_game] = 0.0, 0
        self.start_times[new_game] = time.perf_counter()
        self.scores[~new_game] += rewards[~new_game]
        self.lengths[~new_game] += 1
        self.game_over = terminated | truncated
        lives = np.asarray(info["lives"], dtype=np.int64).copy()
        life_lost = (lives < self.lives) & ~new_game  # lives jump up at a reset
        if self.episodic_life:  # a life lost ends the TD episode, not the game
            terminated = terminated | life_lost
        self.lives = lives
        if self.fire_action is not None:
            self.serving = life_lost & ~self.game_over
            info["life_reset"] = self.serving.copy()
        if self.game_over.any():
            done = self.game_over
            info["episode"] = {
                "r": np.where(done, self.scores, 0.0),
                "l": np.where(done, self.lengths, 0),
                "t": np.where(done, np.round(time.perf_counter() - self.start_times, 6), 0.0),
            }
            info["_episode"] = done.copy()
        if self.reward_clipping:
            rewards = np.clip(rewards, -1.0, 1.0)
        return obs, rewards.astype(np.float32), terminated, truncated, info
