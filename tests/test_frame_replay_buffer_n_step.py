"""n-step returns from FrameReplayBuffer's ring: the same batches as NStepReplayBuffer, at one frame per transition."""

import gymnasium as gym
import lightning as L
import numpy as np
import pytest
import torch
from test_frame_replay_buffer import FRAME, STACK, FakeFrameStackEnv, fill
from test_prioritized_replay import Both, assert_same, save_and_load

import lit_rl
from lit_rl.checks import ConfigurationError
from lit_rl.frame_replay_buffer import FrameReplayBuffer
from lit_rl.n_step_replay import NStepReplayBuffer
from lit_rl.prioritized_replay import PrioritizedReplayBuffer
from lit_rl.replay_buffer import ReplayBuffer

N, GAMMA, NUM_ENVS = 3, 0.9, 3


def frame_buffer(capacity=60, seed=0, n_step=N):
    return FrameReplayBuffer(capacity, (STACK, *FRAME), num_envs=NUM_ENVS, seed=seed, n_step=n_step, gamma=GAMMA)


def reference_buffer():
    """NStepReplayBuffer over a plain ReplayBuffer large enough never to drop a transition."""
    plain = ReplayBuffer(10_000, (STACK, *FRAME), np.uint8, seed=0)
    return NStepReplayBuffer(plain, N, GAMMA, NUM_ENVS)


def by_first_action(batch):
    """Each row of a batch, keyed by its action: ``fill`` gives every one-step transition a unique one."""
    return {int(a): [field[j] for field in batch[:7]] for j, a in enumerate(batch.actions.tolist())}


def all_sampleable(buffer):
    return buffer.gather(np.flatnonzero(buffer.is_sampleable(np.arange(buffer.num_indices))))


def assert_rows_equal(ours, theirs):
    for name, mine, reference in zip(("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "n_steps"),
                                     ours, theirs, strict=True):  # fmt: skip
        if name == "rewards":  # both sum in float64 and round to float32, possibly in another order
            torch.testing.assert_close(mine, reference, msg=name)
        else:
            torch.testing.assert_close(mine, reference, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("padding", ["zero", "reset"])
def test_n_step_batches_equal_n_step_replay_buffer_over_a_plain_buffer(padding):
    env, rng, log = FakeFrameStackEnv(NUM_ENVS, padding), np.random.default_rng(0), []
    frames, small, reference = frame_buffer(capacity=3000), frame_buffer(capacity=60), reference_buffer()
    for steps in (2, 5, 30, 150):  # before and long after the small ring's first wrap
        fill(Both(frames, small, reference), env, steps, rng, log)
        expected = by_first_action(reference.buffer.gather(np.arange(len(reference))))
        ours = by_first_action(all_sampleable(frames))
        assert ours.keys() == expected.keys() and len(frames) == len(reference)
        for transition_id, row in ours.items():
            assert_rows_equal(row, expected[transition_id])
        # A ring that wrapped holds each env's newest n-step transitions, the same as the reference's.
        held = by_first_action(all_sampleable(small))
        assert held.keys() <= expected.keys() and len(held) == len(small) > 0
        for transition_id, row in held.items():
            assert_rows_equal(row, expected[transition_id])
        batch = by_first_action(small.sample(200))
        assert batch.keys() <= held.keys()
    steps = reference.buffer.n_steps[: len(reference)]
    assert set(steps.tolist()) == {1, 2, 3}, "episodes must end inside windows and windows fill up"
    assert reference.buffer.terminated.any() and reference.buffer.truncated.any()


def test_a_hand_computed_episode_terminated_then_one_truncated():
    """Stack 2 of 1x1 frames, one env; rewards 1, 2, 4, 8; n = 3, gamma = 0.5."""
    buffer = FrameReplayBuffer(20, (2, 1, 1), num_envs=1, seed=0, n_step=3, gamma=0.5)
    frame = 0

    def step(obs, reward, terminated=False, truncated=False):
        nonlocal frame
        frame += 1
        next_obs = np.concatenate([obs[:, 1:], np.full((1, 1, 1, 1), frame, np.uint8)], axis=1)
        buffer.add(obs, np.array([frame]), np.array([reward], np.float32), next_obs,
                   np.array([terminated]), np.array([truncated]))  # fmt: skip
        return next_obs

    for end in ("terminated", "truncated"):
        start = frame
        obs = np.zeros((1, 2, 1, 1), np.uint8)  # a reset stack padded with zeros
        for reward in (1, 2, 4):
            obs = step(obs, reward)
        # Only the first transition has its 3 steps; the 2 newest wait for theirs.
        assert len(buffer) == 1 + 4 * (end == "truncated")
        indices = np.flatnonzero(buffer.is_sampleable(np.arange(buffer.num_indices)))
        newest = buffer.gather(indices[-1:])
        assert newest.actions.tolist() == [start + 1] and newest.n_steps.tolist() == [3]
        assert newest.rewards.tolist() == [1 + 0.5 * 2 + 0.25 * 4]
        assert newest.next_obs[0].flatten().tolist() == [start + 2, start + 3]
        assert not newest.terminated[0] and not newest.truncated[0]
        step(obs, 8, terminated=end == "terminated", truncated=end == "truncated")
        assert len(buffer) == 4 + 4 * (end == "truncated")
        indices = np.flatnonzero(buffer.is_sampleable(np.arange(buffer.num_indices)))
        batch = buffer.gather(indices[-4:])
        assert batch.actions.tolist() == [start + 1, start + 2, start + 3, start + 4]
        assert batch.rewards.tolist() == [3.0, 2 + 0.5 * 4 + 0.25 * 8, 4 + 0.5 * 8, 8.0]
        assert batch.n_steps.tolist() == [3, 3, 2, 1]
        # Every window that reached the end stops there; truncated ones bootstrap from the final stack.
        assert batch.terminated.tolist() == [False] + [end == "terminated"] * 3
        assert batch.truncated.tolist() == [False] + [end == "truncated"] * 3
        assert [s.flatten().tolist() for s in batch.next_obs] == [[start + 2, start + 3]] + [[start + 3, start + 4]] * 3


@pytest.mark.parametrize("padding", ["zero", "reset"])
def test_prioritized_n_step_frames_draw_only_complete_windows(padding):
    env, rng, log = FakeFrameStackEnv(NUM_ENVS, padding), np.random.default_rng(0), []
    storage, reference = frame_buffer(), reference_buffer()
    buffer = PrioritizedReplayBuffer(storage, alpha=0.6)
    stale = None
    for steps in [1, 2, 3, 5, 10, 20, 7, 40, 13, 60, 9]:  # past the first wrap of each env's ring, many times
        fill(Both(buffer, reference), env, steps, rng, log)
        if stale is not None:  # the batch drawn before these adds; some of its slots changed since
            buffer.update_priorities(stale.indices, rng.exponential(size=len(stale.indices)))
        sampleable = np.flatnonzero(storage.is_sampleable(np.arange(storage.num_indices)))
        np.testing.assert_array_equal(np.flatnonzero(buffer.tree.priorities > 0), sampleable)
        assert len(sampleable) == len(buffer)
        batch = buffer.sample(256)
        assert set(batch.indices.tolist()) <= set(sampleable.tolist())
        expected = by_first_action(reference.buffer.gather(np.arange(len(reference))))
        for transition_id, row in by_first_action(batch).items():
            assert_rows_equal(row, expected[transition_id])
        stale = batch


def test_n_step_frames_and_priorities_survive_a_snapshot_and_old_snapshots_load(tmp_path):
    env, rng = FakeFrameStackEnv(NUM_ENVS, "zero"), np.random.default_rng(0)
    original, restored = (PrioritizedReplayBuffer(frame_buffer(seed=s)) for s in (0, 1))
    fill(original, env, 100, rng, [])
    batch = original.sample(32)
    original.update_priorities(batch.indices, rng.exponential(size=32))
    restored.load_state_dict(save_and_load(original, tmp_path / "frames.npz"))
    assert_same(original, restored)
    fill(Both(original, restored), env, 20, rng, [])  # windows left open at the snapshot complete alike
    assert_same(original, restored)
    # A snapshot of a one-step buffer (all earlier lit_rl versions) loads into an n-step one: the ring is the same.
    one_step = frame_buffer(n_step=1)
    fill(one_step, env, 50, rng, [])
    n_step = frame_buffer()
    n_step.load_state_dict(save_and_load(one_step, tmp_path / "one_step.npz"))
    np.testing.assert_array_equal(n_step.frames, one_step.frames)
    assert len(n_step) <= len(one_step) and (n_step.sample(64).n_steps > 1).any()


def test_n_step_costs_no_memory_and_bad_n_step_is_refused():
    shape = (4, 84, 84)
    one_step = FrameReplayBuffer.required_bytes(10_000, shape, num_envs=4)
    assert FrameReplayBuffer(10_000, shape, num_envs=4, n_step=3, gamma=0.99).nbytes == one_step
    for n_step in (0, 6, 256):
        with pytest.raises(ConfigurationError, match=f"n_step={n_step} is invalid .* 5 transitions per env"):
            FrameReplayBuffer(10, (STACK, *FRAME), num_envs=2, n_step=n_step)
    with pytest.raises(ValueError, match="gamma"):
        FrameReplayBuffer(10, (STACK, *FRAME), num_envs=2, n_step=2, gamma=1.5)


class FrameStackEnv(gym.Env):
    """4 stacked 36x36 uint8 frames, each one number; episodes of 4 to 9 steps, every third truncated."""

    observation_space = gym.spaces.Box(0, 255, (4, 36, 36), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode = getattr(self, "episode", -1) + 1
        self.t, self.frames = 0, np.zeros((4, 36, 36), np.uint8)
        return self._push(), {}

    def step(self, action):
        self.t += 1
        done = self.t >= 4 + self.episode % 6
        truncated = done and self.episode % 3 == 2
        return self._push(), float(action), done and not truncated, truncated, {}

    def _push(self):
        frame = np.full((1, 36, 36), (7 * self.episode + self.t) % 256, np.uint8)
        self.frames = np.concatenate([self.frames[1:], frame])
        return self.frames.copy()


gym.register("LitRLTests/FrameStack-v0", entry_point=FrameStackEnv)


def test_dqn_fits_n_step_returns_on_frames_with_prioritized_replay():
    L.seed_everything(0, verbose=False)
    module = lit_rl.DQN(
        env_id="LitRLTests/FrameStack-v0", n_step=N, prioritized_replay=True, total_env_steps=160, learning_starts=64,
        batch_size=8, buffer_size=200, eval_episodes=1, eval_interval=10**9, target_update_interval=20,
    )  # fmt: skip
    trainer = L.Trainer(
        max_epochs=-1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(module)
    storage = module.replay_buffer.buffer
    assert isinstance(storage, FrameReplayBuffer) and storage.n_step == N and storage.gamma == module.hparams.gamma
    assert trainer.global_step > 0 and np.isfinite(float(trainer.callback_metrics["train/loss"]))
    assert set(storage.sample(256).n_steps.tolist()) == {1, 2, 3}


def test_life_loss_terminals_end_windows_on_real_atari_frames():
    """With episodic_life a lost life is a terminal but the game goes on: the ring continues, the window stops."""
    from lit_rl.envs import make_vector_env

    env = make_vector_env("ALE/SpaceInvaders-v5", 2, {"episodic_life": True})
    frames = FrameReplayBuffer(2000, env.single_observation_space.shape, num_envs=2, seed=0, n_step=N, gamma=GAMMA)
    reference = NStepReplayBuffer(ReplayBuffer(2000, env.single_observation_space.shape, np.uint8), N, GAMMA, 2)
    obs, _ = env.reset(seed=0)
    rng, resetting = np.random.default_rng(0), np.zeros(2, dtype=bool)
    for step in range(400):
        actions = 2 * step + np.arange(2)  # unique ids; SpaceInvaders has 6 actions
        next_obs, rewards, terminated, truncated, info = env.step(actions % 6)
        rewards = rewards + rng.normal(size=2)  # distinct rewards, so that wrong sums show
        Both(frames, reference).add(obs, actions, rewards, next_obs, terminated, truncated, valid=~resetting)
        # Only game overs reset: the step after a lost life is stored as a transition, continuing the stack
        # in the ring (lit_rl's collector drops it in games that serve with FIRE, SpaceInvaders among them).
        resetting = np.asarray(info.get("_episode", np.zeros(2, bool)))
        obs = next_obs
    env.close()
    assert (reference.buffer.terminated[: len(reference)] & (reference.buffer.n_steps[: len(reference)] < N)).any()
    continued = frames.terminated & np.roll(frames.has_transition, -1, axis=1)
    assert continued[:, : frames.written.min() - 1].any(), "a life loss must be followed by a transition in the ring"
    expected = by_first_action(reference.buffer.gather(np.arange(len(reference))))
    ours = by_first_action(all_sampleable(frames))
    assert ours.keys() == expected.keys()
    for transition_id, row in ours.items():
        assert_rows_equal(row, expected[transition_id])
