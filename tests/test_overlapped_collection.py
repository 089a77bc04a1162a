"""Overlapped collection: two halves of the envs stepped in turn give the transitions of one synchronous step."""

import doctest

import lightning as L
import numpy as np
import pytest
import torch
from conftest import fit

import lit_rl
import lit_rl.split_vector_env
from lit_rl.checks import ConfigurationError
from lit_rl.envs import make_vector_env
from lit_rl.split_vector_env import SplitVectorEnv, concat_infos

# Random Breakout loses a life every few dozen steps and a whole game in a few hundred: these steps cover
# lost lives (FIRE serves again), game ends and the next-step resets after them.
BREAKOUT = ("BreakoutNoFrameskip-v4", {"episodic_life": True})


def split_env(env_id, env_kwargs, sizes):
    return SplitVectorEnv(tuple(make_vector_env(env_id, n, env_kwargs, num_threads=1) for n in sizes))


def test_a_split_env_steps_every_sub_environment_as_the_whole_vector_env_does():
    env_id, env_kwargs = BREAKOUT
    whole, split = make_vector_env(env_id, 5, env_kwargs, num_threads=1), split_env(env_id, env_kwargs, (2, 3))
    whole_obs, _ = whole.reset(seed=7)
    split_obs, _ = split.reset(seed=7)
    np.testing.assert_array_equal(split_obs, whole_obs)
    rng = np.random.default_rng(0)
    games = lives = 0
    for step in range(400):
        actions = rng.integers(0, 4, size=5)
        expected = whole.step(actions)
        if step % 2:  # the overlapped order: one half sent, the other half sent, then both received
            split.send(0, actions[:2])
            split.send(1, actions[2:])
            got = split.concat_steps(split.recv(0), split.recv(1))
        else:
            got = split.step(actions)
        names = ("obs", "rewards", "terminated", "truncated")
        for name, want, have in zip(names, expected[:4], got[:4], strict=True):
            np.testing.assert_array_equal(have, want, err_msg=f"{name} at step {step}")
        want_info, have_info = expected[4], got[4]
        assert ("episode" in have_info) == ("episode" in want_info)
        if "episode" in want_info:
            np.testing.assert_array_equal(have_info["_episode"], want_info["_episode"])
            np.testing.assert_array_equal(have_info["episode"]["r"], want_info["episode"]["r"])
            np.testing.assert_array_equal(have_info["episode"]["l"], want_info["episode"]["l"])
            games += int(want_info["_episode"].sum())
        np.testing.assert_array_equal(have_info["life_reset"], want_info["life_reset"])
        np.testing.assert_array_equal(have_info["env_id"], want_info["env_id"])
        lives += int(want_info["life_reset"].sum())
    whole.close()
    split.close()
    assert games >= 2 and lives >= 5, "the steps should cover game ends and lost lives"


def test_concat_infos_fills_what_one_half_did_not_report():
    episode = {"r": np.array([3.0]), "l": np.array([10])}
    first = {"episode": episode, "_episode": np.array([True]), "lives": np.array([2])}
    second = {"lives": np.array([5, 4])}
    merged = concat_infos([first, second], (1, 2))
    np.testing.assert_array_equal(merged["_episode"], [True, False, False])
    np.testing.assert_array_equal(merged["episode"]["r"], [3.0, 0.0, 0.0])
    np.testing.assert_array_equal(merged["episode"]["l"], [10, 0, 0])
    np.testing.assert_array_equal(merged["lives"], [2, 5, 4])
    assert doctest.testmod(lit_rl.split_vector_env).failed == 0


class ObservationDeterminedPPO(lit_rl.PPO):
    """Chooses each action from its observation alone (no random draws) and records every rollout."""

    @torch.inference_mode()
    def act(self, obs):
        pixels = torch.as_tensor(obs).flatten(1).to(torch.int64)
        actions = (pixels.sum(1) // 7) % self.action_space.n
        return actions.numpy(), actions, torch.zeros(len(obs)), pixels.float().mean(1)

    def finish_rollout(self, next_obs):
        super().finish_rollout(next_obs)
        buffer = self.rollout_buffer
        fields = ("obs", "actions", "rewards", "terminated", "truncated", "valid", "advantages")
        rollout = {name: getattr(buffer, name).clone() for name in fields}
        self.rollouts = getattr(self, "rollouts", []) + [rollout]


def test_the_overlapped_collector_stores_the_rollouts_of_the_synchronous_one():
    rollouts = {}
    for overlap in (False, True):
        L.seed_everything(3)
        env_id, env_kwargs = BREAKOUT
        module = ObservationDeterminedPPO(
            env_id, env_kwargs=env_kwargs, num_envs=4, num_steps=64, total_env_steps=3 * 256,
            update_epochs=1, num_minibatches=1, eval_episodes=1, eval_interval=10**9, overlap_env_steps=overlap,
        )  # fmt: skip
        fit(module, limit_val_batches=0)
        rollouts[overlap] = module.rollouts
    assert len(rollouts[True]) == len(rollouts[False]) == 3
    for number, (want, have) in enumerate(zip(rollouts[False], rollouts[True], strict=True)):
        for name in want:
            torch.testing.assert_close(have[name], want[name], msg=f"{name} of rollout {number}")
    assert not rollouts[True][-1]["valid"].all(), "the rollouts should include next-step resets"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(env_id="CartPole-v1"), "needs ale-py's native Atari env"),
        (dict(env_id="ALE/Pong-v5", env_kwargs={"backend": "gymnasium"}), "needs ale-py's native Atari env"),
        (dict(env_id="ALE/Pong-v5", num_envs=1), "needs num_envs >= 2"),
    ],
)
def test_overlap_is_refused_where_it_cannot_run(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        lit_rl.PPO(**kwargs, overlap_env_steps=True)
