import pytest
import torch

from lit_rl.td_targets import td_targets

REWARDS = torch.tensor([1.0, 0.5, -1.0])
TERMINATED = torch.tensor([False, True, False])
# Row 2 is a truncated transition: it must bootstrap exactly like row 0.
NEXT_Q_TARGET = torch.tensor([[2.0, 3.0], [10.0, 20.0], [4.0, -1.0]])
NEXT_Q_ONLINE = torch.tensor([[5.0, 1.0], [0.0, 1.0], [0.0, 9.0]])


def test_dqn_target_takes_max_of_target_network_and_stops_at_termination():
    targets = td_targets(REWARDS, TERMINATED, NEXT_Q_TARGET, gamma=0.9)
    # 1 + 0.9 * 3 ; 0.5 (terminal) ; -1 + 0.9 * 4
    torch.testing.assert_close(targets, torch.tensor([3.7, 0.5, 2.6]))


def test_double_dqn_target_evaluates_online_argmax_with_target_network():
    targets = td_targets(REWARDS, TERMINATED, NEXT_Q_TARGET, gamma=0.9, next_q_online=NEXT_Q_ONLINE)
    # online argmax: action 0, action 1, action 1 -> target values 2, (terminal), -1
    torch.testing.assert_close(targets, torch.tensor([2.8, 0.5, -1.9]))


def test_truncated_transition_bootstraps_but_terminated_does_not():
    rewards = torch.tensor([1.0, 1.0])
    next_q = torch.tensor([[5.0], [5.0]])
    terminated = torch.tensor([True, False])  # the second row was truncated by a time limit
    torch.testing.assert_close(td_targets(rewards, terminated, next_q, gamma=0.5), torch.tensor([1.0, 3.5]))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_targets_are_float32_under_low_precision(dtype):
    targets = td_targets(REWARDS.to(dtype), TERMINATED, NEXT_Q_TARGET.to(dtype), gamma=0.99)
    assert targets.dtype == torch.float32


def test_n_step_targets_discount_the_bootstrap_by_gamma_to_the_n():
    # rewards are already discounted sums over 3, 2 and 1 steps
    rewards = torch.tensor([2.71, 1.9, 1.0])
    next_q = torch.tensor([[10.0], [10.0], [10.0]])
    terminated = torch.tensor([False, False, True])
    targets = td_targets(rewards, terminated, next_q, gamma=0.9, n_steps=torch.tensor([3, 2, 1], dtype=torch.uint8))
    # 2.71 + 0.729 * 10 ; 1.9 + 0.81 * 10 ; 1.0 (terminal)
    torch.testing.assert_close(targets, torch.tensor([10.0, 10.0, 1.0]))
