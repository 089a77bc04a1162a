"""Atari from pixels: frame layout, true game scores, replay of real frames, bad input, a short Pong fit."""

import lightning as L
import numpy as np
import pytest
from conftest import ROOT

from lit_rl import DQN
from lit_rl.cli import main
from lit_rl.envs import check_env_id, episodes_ended, make_vector_env
from lit_rl.frame_replay_buffer import FrameReplayBuffer


def test_both_backends_give_zero_padded_4x84x84_uint8_stacks():
    pytest.importorskip("cv2", reason="gymnasium's AtariPreprocessing needs opencv")
    for backend in ("native", "gymnasium"):
        env = make_vector_env("ALE/Pong-v5", 2, {"backend": backend})
        obs, _ = env.reset(seed=0)
        assert env.single_observation_space.shape == (4, 84, 84)
        assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8, backend
        assert not obs[:, :3].any() and obs[:, 3].any(), f"{backend}: a reset stack is 3 zero frames + 1"
        next_obs, *_ = env.step(np.zeros(2, dtype=np.int64))
        np.testing.assert_array_equal(next_obs[:, :3], obs[:, 1:])
        env.close()


def record_inner_steps(env):
    """Make ``env``'s wrapped vector env log what its steps return: raw rewards and real game ends."""
    inner, log = env.env, []
    name = "recv" if hasattr(inner, "recv") else "step"  # the native env's steps end in recv

    def logged(*args):
        result = getattr(type(inner), name)(inner, *args)
        log.append(result)
        return result

    setattr(inner, name, logged)
    return log


def test_episode_records_are_whole_games_with_unclipped_scores():
    # Asterix: rewards of 50, several lives, ~200-step games under random play.
    env = make_vector_env("AsterixNoFrameskip-v4", 2, {"reward_clipping": True, "episodic_life": True})
    raw_steps = record_inner_steps(env)
    env.reset(seed=3)
    rng = np.random.default_rng(3)
    scores, lengths = np.zeros(2), np.zeros(2, dtype=int)
    new_game = np.zeros(2, dtype=bool)
    games, life_losses = 0, 0
    for _ in range(900):
        _, rewards, terminated, truncated, info = env.step(rng.integers(env.single_action_space.n, size=2))
        _, raw, game_over, raw_truncated, _ = raw_steps[-1]
        np.testing.assert_array_equal(rewards, np.clip(raw, -1, 1))
        scores[new_game], lengths[new_game] = 0, 0
        scores[~new_game] += raw[~new_game]
        lengths[~new_game] += 1
        done = game_over | raw_truncated
        life_losses += int((terminated & ~done).sum())
        np.testing.assert_array_equal(info.get("_episode", np.zeros(2, dtype=bool)), done)
        for i in np.flatnonzero(done):
            assert info["episode"]["r"][i] == scores[i] and info["episode"]["l"][i] == lengths[i]
            games += 1
        new_game = done
    assert games >= 4 and life_losses >= games, "whole games of several lives each must have been played"
    assert max(s[1].max() for s in raw_steps) > 1, "raw rewards must reach the wrapper unclipped"


@pytest.mark.parametrize("backend", ["native", "gymnasium"])
def test_breakout_serves_again_after_each_lost_life_with_episodic_life(backend):
    # Breakout waits for FIRE after a lost life: a policy that never fires would stall until truncation
    # (5,000 steps here). The env serves for it, as SB3's and CleanRL's wrappers do.
    if backend == "gymnasium":
        pytest.importorskip("cv2", reason="gymnasium's AtariPreprocessing needs opencv")
    kwargs = {"backend": backend, "episodic_life": True, "max_episode_frames": 20_000}
    env = make_vector_env("ALE/Breakout-v5", 2, kwargs)
    env.reset(seed=0)
    noop = np.zeros(2, dtype=np.int64)
    life_losses, serves = np.zeros(2, dtype=int), np.zeros(2, dtype=int)
    serving, finished = np.zeros(2, dtype=bool), np.zeros(2, dtype=bool)
    resets_as_told = True
    for _ in range(400):  # a ball served to the unmoving paddle is lost in ~25 steps
        _, _, terminated, truncated, info = env.step(noop)
        assert not truncated.any(), "the game stalled until truncation: no FIRE after a lost life"
        game_over = info.get("_episode", np.zeros(2, dtype=bool))
        playing = ~finished
        life_losses += terminated & ~game_over & playing
        serves += serving & playing
        # Each lost life makes the next step a serve, which, like a reset, is not a transition.
        resets_as_told &= bool((episodes_ended(info, 2) == terminated).all())
        serving = terminated & ~game_over
        finished |= game_over
        np.testing.assert_array_equal(info["lives"][game_over], 0)
        if finished.all():
            break
    assert finished.all(), "both games must end with all lives lost, a served ball after each"
    assert resets_as_told, "episodes_ended must mark each step before a serve"
    np.testing.assert_array_equal(life_losses, [4, 4])
    np.testing.assert_array_equal(serves, [4, 4])
    env.close()


def test_frame_replay_rebuilds_real_atari_stacks():
    env = make_vector_env("ALE/Breakout-v5", 2, {"episodic_life": True})
    buffer = FrameReplayBuffer(300, env.single_observation_space.shape, num_envs=2, seed=0)
    obs, _ = env.reset(seed=0)
    rng, resetting, given = np.random.default_rng(0), np.zeros(2, dtype=bool), {}
    for _ in range(500):
        actions = rng.integers(4, size=2)
        next_obs, rewards, terminated, truncated, _ = env.step(actions)
        buffer.add(obs, actions, rewards, next_obs, terminated, truncated, valid=~resetting)
        for i in np.flatnonzero(~resetting):
            key = obs[i].tobytes() + next_obs[i].tobytes()
            given.setdefault(key, set()).add((actions[i], rewards[i], terminated[i], truncated[i]))
        resetting = terminated | truncated
        obs = next_obs
    assert buffer.terminated.any(), "episode ends (life losses) must be in the buffer"
    batch = buffer.sample(2000)
    for j in range(len(batch.obs)):
        key = batch.obs[j].numpy().tobytes() + batch.next_obs[j].numpy().tobytes()
        fields = (batch.actions[j].item(), batch.rewards[j].item(), batch.terminated[j].item(),
                  batch.truncated[j].item())  # fmt: skip
        assert fields in given.get(key, set()), "a rebuilt transition differs from every one the env gave"


def test_unknown_atari_game_names_how_to_list_the_games():
    for env_id in ("ALE/Pongg-v5", "PonggNoFrameskip-v4"):
        with pytest.raises(ValueError, match=r"not a known Atari game.*ale_py.roms.get_all_rom_ids"):
            check_env_id(env_id)
    with pytest.raises(ValueError, match="backend='nonsense' is invalid"):
        make_vector_env("ALE/Pong-v5", 1, {"backend": "nonsense"})
    with pytest.raises(ValueError, match=r"env_kwargs \['frameskip'\] are not Atari env options.*frame_skip"):
        make_vector_env("ALE/Pong-v5", 1, {"frameskip": 4})


def test_a_buffer_too_large_for_memory_stops_before_training(tmp_path):
    model = DQN(env_id="ALE/Pong-v5", buffer_size=100_000_000, eval_episodes=1)
    trainer = L.Trainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    with pytest.raises(ValueError, match=r"buffer_size=100000000 needs 707,\d{3},\d{3},\d{3} bytes"):
        trainer.fit(model)
    assert model.env_steps == 0


def test_fit_pong_config_from_the_command_line(tmp_path):
    cli = main([
        "fit", "--config", str(ROOT / "configs/dqn_pong.yaml"),
        "--trainer.default_root_dir", str(tmp_path),
        "--trainer.enable_progress_bar", "false",
        "--trainer.log_every_n_steps", "5",
        "--trainer.limit_val_batches", "0",
        # 1,000 random steps per env: every env finishes a game of Pong before learning starts.
        "--model.learning_starts", "4000",
        "--model.total_env_steps", "4080",
        "--model.buffer_size", "8000",
    ])  # fmt: skip
    model, metrics = cli.model, cli.trainer.callback_metrics
    assert isinstance(model.replay_buffer, FrameReplayBuffer)
    assert model.env_steps >= 4080 and cli.trainer.global_step >= 20
    assert np.isfinite(metrics["train/loss"].item())
    # A whole game of random Pong ends near -21; a per-point episode would score -1 or +1.
    assert -21 <= metrics["rollout/episodic_return"] <= -5
    assert metrics["rollout/episodic_length"] > 500
    assert list(tmp_path.rglob("events.out.tfevents.*")), "no TensorBoard log was written"
