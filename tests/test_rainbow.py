"""The Rainbow components as DQN hyperparameters: each alone and all together train from a plain Trainer."""

import warnings

import lightning as L
import numpy as np
import pytest
import torch

import lit_rl
from lit_rl.networks import NoisyLinear

TINY = dict(
    env_id="CartPole-v1", total_env_steps=300, learning_starts=100, batch_size=16, buffer_size=1_000,
    hidden_sizes=[16], eval_episodes=2, eval_interval=300, target_update_interval=20,
)
COMBINATIONS = {
    "dqn": {},
    "dueling": dict(dueling=True),
    "noisy": dict(noisy_nets=True),
    "c51": dict(distributional="c51", num_atoms=11),
    "qr": dict(distributional="qr", num_quantiles=8),
    "n_step": dict(n_step=3),
    "prioritized": dict(prioritized_replay=True),
    "qr_prioritized": dict(distributional="qr", num_quantiles=8, prioritized_replay=True),
    "all": dict(
        dueling=True, noisy_nets=True, distributional="c51", num_atoms=11, n_step=3, prioritized_replay=True,
        gradient_steps=2,
    ),
}


def fit(**settings) -> tuple[lit_rl.DQN, L.Trainer]:
    L.seed_everything(0, verbose=False)
    module = lit_rl.DQN(**{**TINY, **settings})
    trainer = L.Trainer(
        max_epochs=-1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0,
    )
    trainer.fit(module)
    return module, trainer


@pytest.mark.parametrize("settings", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_every_combination_trains_and_evaluates(settings):
    module, trainer = fit(**settings)
    assert module.env_steps >= 300 and trainer.global_step > 0
    assert np.isfinite(float(trainer.callback_metrics["train/loss"]))
    assert "eval/episodic_return" in trainer.callback_metrics


def test_prioritized_replay_anneals_beta_and_updates_the_priorities_it_trained_on():
    module, _ = fit(prioritized_replay=True, priority_beta_start=0.4)
    buffer = module.replay_buffer
    assert buffer.beta == pytest.approx(0.4 + 0.6 * (module.env_steps - 1) / 300, abs=0.01)
    stored = buffer.tree.priorities[: len(buffer)]
    # Trained-on transitions got (|TD error| + eps) ** alpha; the rest kept the max priority they came in with.
    assert len(np.unique(stored)) > 50 and stored.max() == pytest.approx(buffer.max_priority)


def test_noisy_nets_explore_without_epsilon_and_evaluate_with_their_mean_weights():
    module, _ = fit(noisy_nets=True)
    assert module.epsilon == 0.0  # the noise explores; epsilon-greedy is off unless asked for
    assert any(isinstance(layer, NoisyLinear) for layer in module.q_network.modules())
    obs = np.random.default_rng(0).normal(size=(256, 4)).astype(np.float32)
    module.q_network.train()
    greedy = [module.evaluation_actions(obs) for _ in range(2)]
    noisy = []
    for _ in range(2):
        lit_rl.networks.reset_noise(module.q_network)
        noisy.append(module.act(obs, epsilon=0.0))
    assert np.array_equal(greedy[0], greedy[1])  # the mean weights, whatever the noise
    with torch.no_grad(), lit_rl.networks.noise_disabled(module.q_network):
        mean_actions = module.q_network(torch.as_tensor(obs)).argmax(1).numpy()
    assert np.array_equal(greedy[0], mean_actions)
    assert not np.array_equal(noisy[0], noisy[1])  # acting while training is noisy


@pytest.mark.parametrize("distributional", ["c51", "qr"])
def test_distributional_q_values_are_the_expected_returns_of_the_outputs(distributional):
    module = lit_rl.DQN(**{**TINY, "distributional": distributional, "num_atoms": 5, "num_quantiles": 4,
                           "v_min": -2.0, "v_max": 2.0})
    outputs = torch.tensor([[[0.0, 0.0, 0.0, 0.0, 10.0], [10.0, 0.0, 0.0, 0.0, 0.0]]])
    if distributional == "qr":
        outputs = torch.tensor([[[1.0, 2.0, 3.0, 6.0], [-1.0, 0.0, 0.0, 1.0]]])
    q = module.q_values(outputs)
    expected = [[3.0, 0.0]] if distributional == "qr" else [[2.0, -2.0]]
    torch.testing.assert_close(q, torch.tensor(expected), atol=1e-3, rtol=0)  # softmax(10 vs 0): 0.9998


def test_bad_distributional_settings_stop_before_training():
    with pytest.raises(ValueError, match="distributional='iqn' is invalid"):
        lit_rl.DQN(**TINY, distributional="iqn")
    with pytest.raises(ValueError, match="num_atoms=1 is invalid"):
        lit_rl.DQN(**TINY, distributional="c51", num_atoms=1)
    with pytest.raises(ValueError, match="v_min"):
        lit_rl.DQN(**TINY, distributional="c51", v_min=1.0, v_max=-1.0)


def test_noisy_nets_with_an_explicit_epsilon_say_that_both_explore():
    with pytest.warns(UserWarning, match=r"noisy_nets=True with start_e=1.0, end_e=0.05: epsilon-greedy explores"):
        module = lit_rl.DQN(**{**TINY, "noisy_nets": True, "start_e": 1.0, "end_e": 0.05})
    assert module.epsilon == 1.0  # the explicit schedule is kept
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lit_rl.DQN(**{**TINY, "noisy_nets": True}).epsilon == 0.0  # unset: the noise alone explores
        lit_rl.DQN(**{**TINY, "noisy_nets": True, "start_e": 0.0, "end_e": 0.0})
