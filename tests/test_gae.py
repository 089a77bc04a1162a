import torch

from lit_rl.gae import discounted_returns, finished_episode_mask, gae_advantages

# One rollout of 6 steps, two envs, gamma = 0.5, lambda = 0.5 (so gamma * lambda = 0.25).
# Env 0, next-step autoreset:
#   t0 r=1 V=1                 t1 r=0 V=2 truncated     t2 reset row, V(final obs of t1)=6
#   t3 r=2 V=0.5 terminated    t4 reset row, V=5 (r=7 must be ignored)   t5 r=1 V=2, next V=4
# Env 1: r=1 every step, V=0, no episode end, next V=0.
REWARDS = [[1, 1], [0, 1], [0, 1], [2, 1], [7, 1], [1, 1]]
VALUES = [[1, 0], [2, 0], [6, 0], [0.5, 0], [5, 0], [2, 0]]
F, T = False, True
TERMINATED = [[F, F], [F, F], [F, F], [T, F], [F, F], [F, F]]
TRUNCATED = [[F, F], [T, F], [F, F], [F, F], [F, F], [F, F]]
VALID = [[T, T], [T, T], [F, T], [T, T], [F, T], [T, T]]

# By hand:
# env 0: t5: 1 + 0.5*4 - 2 = 1.   t4: reset row, 0.   t3: terminated, 2 - 0.5 = 1.5 (no bootstrap)
#        t2: 0.   t1: truncated, bootstraps from the final obs: 0 + 0.5*6 - 2 = 1 (no carry from t2)
#        t0: delta 1 + 0.5*2 - 1 = 1, plus 0.25 * A1 = 1.25
# env 1: delta 1 everywhere; A5 = 1, A4 = 1.25, A3 = 1.3125, A2 = 1.328125, A1 = 1.33203125,
#        A0 = 1.3330078125
EXPECTED = [
    [1.25, 1.3330078125],
    [1.0, 1.33203125],
    [0.0, 1.328125],
    [1.5, 1.3125],
    [0.0, 1.25],
    [1.0, 1.0],
]


def gae(gamma=0.5, gae_lambda=0.5, next_value=(4.0, 0.0)):
    return gae_advantages(
        torch.tensor(REWARDS, dtype=torch.float32),
        torch.tensor(VALUES),
        torch.tensor(next_value),
        torch.tensor(TERMINATED),
        torch.tensor(TRUNCATED),
        torch.tensor(VALID),
        gamma,
        gae_lambda,
    )


def test_gae_bootstraps_at_truncation_and_stops_at_termination():
    torch.testing.assert_close(gae(), torch.tensor(EXPECTED))


def test_gae_lambda_one_is_the_discounted_return_minus_the_value():
    # Env 1 with gamma 0.5, lambda 1: return from t0 = 1 + .5 + .25 + .125 + .0625 + .03125
    advantages = gae(gae_lambda=1.0)
    assert abs(advantages[0, 1].item() - 1.96875) < 1e-6
    # Env 0, t0: r0 + gamma * (r1 + gamma * V(final obs)) - V0 = 1 + 0.5 * (0 + 3) - 1 = 1.5
    assert abs(advantages[0, 0].item() - 1.5) < 1e-6


def test_gae_lambda_zero_is_the_one_step_td_error():
    advantages = gae(gae_lambda=0.0)
    assert advantages[:, 1].tolist() == [1.0] * 6
    assert advantages[0, 0].item() == 1.0  # 1 + 0.5 * 2 - 1


def test_finished_episode_mask_keeps_only_steps_with_a_known_monte_carlo_return():
    mask = finished_episode_mask(torch.tensor(TERMINATED), torch.tensor(TRUNCATED), torch.tensor(VALID))
    # Env 0: the episodes ending at t1 and t3 are complete; t5 belongs to an unfinished one.
    # Env 1: its only episode has not ended.
    assert mask[:, 0].tolist() == [True, True, False, True, False, False]
    assert mask[:, 1].tolist() == [False] * 6


def test_discounted_returns_continue_from_the_return_of_the_next_step():
    # Column 0: rewards 1, 2, 3 then a return of 10: 3 + 0.5 * 10 = 8, 2 + 4 = 6, 1 + 3 = 4.
    # Column 1: gamma applies to every step: 0 + 0.5 * (0 + 0.5 * (4 + 0.5 * 0)) = 1.
    rewards = torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 4.0]])
    returns = discounted_returns(rewards, 0.5, torch.tensor([10.0, 0.0]))
    assert returns.tolist() == [[4.0, 1.0], [6.0, 2.0], [8.0, 4.0]]
    assert discounted_returns(rewards[:0], 0.5, torch.tensor([10.0, 0.0])).shape == (0, 2)
