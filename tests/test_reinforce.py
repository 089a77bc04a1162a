import gymnasium as gym
import lightning as L
import pytest
import torch
from counter_env import CounterEnv
from test_ppo import cli_fit, fit

import lit_rl


def test_reinforce_cartpole_config_fits(tmp_path):
    cli = cli_fit("reinforce_cartpole.yaml", tmp_path, "--model.total_env_steps", "4000")
    assert cli.model.env_steps == 4000 and cli.trainer.global_step == 2
    metrics = cli.trainer.callback_metrics
    for name in ("policy_loss", "value_loss", "entropy"):
        assert torch.isfinite(metrics[f"train/{name}"]), name
    assert 1 <= metrics["eval/episodic_return"] <= 500


def test_reinforce_without_baseline_learns_from_monte_carlo_returns_of_finished_episodes_only():
    """CounterEnv: reward t + 1 at step t; episode k lasts 3 + k % 4 steps."""
    L.seed_everything(0)
    module = lit_rl.Reinforce(
        "LitRLTests/Counter-v0", num_envs=2, num_steps=12, total_env_steps=24, baseline=False, gamma=1.0,
        hidden_sizes=[8], eval_episodes=1, eval_interval=10**9,
    )
    fit(module, max_steps=0)
    buffer = module.rollout_buffer
    episode, t = buffer.obs[..., 0].long(), buffer.obs[..., 1].long()
    length = 3 + episode % 4
    done = buffer.terminated | buffer.truncated
    for env in range(2):
        last_end = done[:, env].nonzero().max().item()
        # Kept: real transitions up to the env's last episode end; its unfinished episode is left out.
        assert not buffer.valid[last_end + 1 :, env].any()
        for step in range(last_end + 1):
            if buffer.valid[step, env]:
                # Return to go from t: (t + 1) + ... + length, and no baseline is subtracted.
                expected = sum(range(t[step, env] + 1, length[step, env] + 1))
                assert buffer.advantages[step, env].item() == expected
    assert buffer.valid.any() and (buffer.values == 0).all()


@pytest.mark.slow
def test_reinforce_cartpole_config_reaches_400(tmp_path):
    cli = cli_fit("reinforce_cartpole.yaml", tmp_path, "--model.eval_episodes", "20")
    assert cli.trainer.callback_metrics["eval/episodic_return"] >= 400


class LongCounterEnv(CounterEnv):
    """CounterEnv with episodes longer than the tests' 3-step rollouts: episode ``k`` lasts ``5 + k % 4``."""

    def step(self, action):
        self.t += 1
        done = self.t >= 5 + self.episode % 4
        truncated = done and self.episode % 3 == 2
        return self._obs(), float(self.t), done and not truncated, truncated, {}


if "LitRLTests/LongCounter-v0" not in gym.registry:
    gym.register("LitRLTests/LongCounter-v0", entry_point=LongCounterEnv)


def record_trained_steps(module):
    """Wraps ``compute_loss`` to record, per gradient step, each trained row's (episode, t), return,
    advantage, and the baseline's value then of the row and of the episode's final observation."""
    steps, compute_loss = [], module.compute_loss

    def recording_compute_loss(batch):
        with torch.no_grad():
            obs = batch.obs[batch.valid]
            final = obs.clone()
            final[:, 1] = 5 + final[:, 0] % 4  # [episode, length]: the final observation of the row's episode
            rows = [
                (int(e), int(t), g, a, v, vf)
                for (e, t), g, a, v, vf in zip(
                    obs.tolist(), batch.returns[batch.valid].tolist(), batch.advantages[batch.valid].tolist(),
                    module.policy.value(obs).tolist(), module.policy.value(final).tolist(), strict=True,
                )
            ]
        steps.append(rows)
        return compute_loss(batch)

    module.compute_loss = recording_compute_loss
    return steps


@pytest.mark.parametrize("baseline", [False, True])
def test_reinforce_trains_on_whole_episodes_longer_than_a_rollout(baseline):
    """Episodes of 5-8 steps, rollouts of 3: every step of every finished episode is trained on once,
    from the episode's first step, all in the gradient step of the rollout where the episode ends,
    with its discounted return (bootstrapped from the baseline at a truncation)."""
    L.seed_everything(0)
    gamma, num_rollouts = 0.5, 12
    module = lit_rl.Reinforce(
        "LitRLTests/LongCounter-v0", num_envs=2, num_steps=3, total_env_steps=2 * 3 * num_rollouts,
        baseline=baseline, gamma=gamma, hidden_sizes=[8], eval_episodes=1, eval_interval=10**9,
    )
    steps = record_trained_steps(module)
    fit(module)
    assert len(steps) == num_rollouts
    episodes = {}  # episode -> {t: (gradient step, return, advantage, value, value of the final obs)}
    for step, rows in enumerate(steps):
        for episode, t, g, a, v, vf in rows:
            assert t not in episodes.setdefault(episode, {}), f"episode {episode} step {t} trained twice"
            episodes[episode][t] = (step, g, a, v, vf)
    # 36 steps per env: at least 4 whole episodes each, ids 0, 1, ... (env 0) and 1000, 1001, ... (env 1).
    for first in (0, 1000):
        ids = sorted(e for e in episodes if first <= e < first + 1000)
        assert ids == list(range(first, first + len(ids))) and len(ids) >= 4, ids
    for episode, trained in episodes.items():
        length, truncated = 5 + episode % 4, episode % 3 == 2
        assert sorted(trained) == list(range(length)), f"episode {episode}: trained steps {sorted(trained)}"
        (step,) = {s for s, *_ in trained.values()}  # the whole episode in one gradient step
        # Hand-computed: reward t + 1 at step t; after the last step, V(final obs) at a truncation.
        expected = trained[length - 1][4] if truncated and baseline else 0.0
        for t in reversed(range(length)):
            expected = (t + 1) + gamma * expected
            _, g, a, v, _ = trained[t]
            assert g == pytest.approx(expected, abs=1e-5), (episode, t)
            assert a == pytest.approx(expected - v if baseline else expected, abs=1e-5), (episode, t)


def test_reinforce_cuts_episodes_longer_than_max_carried_steps_at_a_rollout_end():
    """With max_carried_steps=2 and 3-step rollouts, an episode's pending steps never exceed 2 between
    rollouts: longer episodes are cut at a rollout's end, each step still trained on exactly once, the
    cut part's returns stopping there (no baseline)."""
    L.seed_everything(0)
    gamma, num_rollouts = 0.5, 12
    module = lit_rl.Reinforce(
        "LitRLTests/LongCounter-v0", num_envs=2, num_steps=3, total_env_steps=2 * 3 * num_rollouts,
        baseline=False, gamma=gamma, max_carried_steps=2, hidden_sizes=[8], eval_episodes=1,
        eval_interval=10**9,
    )
    steps = record_trained_steps(module)
    pending, finish_rollout = [], module.finish_rollout

    def recording_finish_rollout(next_obs):
        finish_rollout(next_obs)
        pending.append(module.unfinished_episodes.lengths())

    module.finish_rollout = recording_finish_rollout
    fit(module)
    assert max(max(lengths) for lengths in pending) == 2
    trained = {}
    for step, rows in enumerate(steps):
        for episode, t, g, *_ in rows:
            assert (episode, t) not in trained, f"episode {episode} step {t} trained twice"
            trained[episode, t] = (step, g)
    cuts = 0
    for (episode, t), (step, g) in trained.items():
        following = trained.get((episode, t + 1))
        if following is not None and following[0] == step:
            assert g == pytest.approx(t + 1 + gamma * following[1])
        else:  # the episode's last step, or a cut after this step: its next steps go to later rollouts
            assert g == t + 1
            if t < 5 + episode % 4 - 1:
                assert following is None or following[0] > step
                cuts += 1
    assert cuts > 0
    assert all((episode, 0) in trained for episode, _ in trained)  # every episode from its first step


def test_reinforce_rejects_a_non_positive_max_carried_steps():
    with pytest.raises(ValueError, match=r"max_carried_steps=0 is invalid: it must be > 0"):
        lit_rl.Reinforce(max_carried_steps=0)
