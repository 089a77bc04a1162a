import copy

import pytest
import torch
from torch import nn

from lit_rl import EpsilonDecay, ReplayCollector, TargetNetworkUpdate
from lit_rl.callbacks import polyak_update


class Holder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q_network = nn.Linear(2, 1)
        self.target_network = copy.deepcopy(self.q_network).requires_grad_(False)
        with torch.no_grad():
            self.q_network.weight.fill_(1.0)
            self.target_network.weight.fill_(3.0)


class FakeTrainer:
    def __init__(self, global_step: int) -> None:
        self.global_step = global_step


def test_polyak_update_moves_target_by_tau():
    holder = Holder()
    polyak_update(holder.q_network, holder.target_network, tau=0.25)
    # 0.25 * 1 + 0.75 * 3
    assert torch.allclose(holder.target_network.weight, torch.full((1, 2), 2.5))


def test_hard_update_happens_only_every_interval():
    holder = Holder()
    callback = TargetNetworkUpdate(target_update_interval=3, tau=1.0)
    for step in (1, 2):
        callback.on_train_batch_end(FakeTrainer(step), holder, None, None, 0)
        assert torch.all(holder.target_network.weight == 3.0)
    callback.on_train_batch_end(FakeTrainer(3), holder, None, None, 0)
    assert torch.equal(holder.target_network.weight, holder.q_network.weight)


def test_an_interval_that_ends_inside_a_multi_step_batch_updates_at_its_end():
    holder = Holder()
    callback = TargetNetworkUpdate(target_update_interval=3, tau=1.0)
    callback.on_train_batch_end(FakeTrainer(2), holder, None, None, 0)  # batches of 2 gradient steps
    assert torch.all(holder.target_network.weight == 3.0)
    callback.on_train_batch_end(FakeTrainer(4), holder, None, None, 0)  # step 3 was inside this batch
    assert torch.equal(holder.target_network.weight, holder.q_network.weight)


def test_polyak_intervals_ended_in_one_batch_compound():
    holder = Holder()
    callback = TargetNetworkUpdate(target_update_interval=1, tau=0.5)
    callback.on_train_batch_end(FakeTrainer(2), holder, None, None, 0)
    # Two Polyak steps toward the same online weights: 3 -> 2 -> 1.5, i.e. one step of 1 - 0.5**2.
    assert torch.allclose(holder.target_network.weight, torch.full((1, 2), 1.5))


def test_resumed_run_keeps_its_restored_target_network():
    # on_train_start: Lightning restores global_step after on_fit_start (tests/test_exact_resume.py).
    holder = Holder()
    TargetNetworkUpdate().on_train_start(FakeTrainer(global_step=500), holder)
    assert torch.all(holder.target_network.weight == 3.0)
    TargetNetworkUpdate().on_train_start(FakeTrainer(global_step=0), holder)
    assert torch.all(holder.target_network.weight == 1.0)


def test_epsilon_follows_env_steps_not_hook_calls():
    callback = EpsilonDecay(start_e=1.0, end_e=0.1, exploration_fraction=0.5, total_env_steps=1000)
    assert callback.exploration_steps == 500
    assert callback.epsilon(0) == 1.0
    assert callback.epsilon(250) == pytest.approx(0.55)
    assert callback.epsilon(10_000) == pytest.approx(0.1)
    exponential = EpsilonDecay(start_e=1.0, end_e=0.01, exploration_steps=100, schedule="exponential")
    assert exponential.epsilon(50) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: TargetNetworkUpdate(target_update_interval=0), "target_update_interval=0"),
        (lambda: TargetNetworkUpdate(tau=1.5), "tau=1.5"),
        (lambda: EpsilonDecay(start_e=1.2, total_env_steps=10), "start_e=1.2"),
        (lambda: EpsilonDecay(schedule="cosine", total_env_steps=10), "schedule='cosine'"),
        (lambda: EpsilonDecay(end_e=0.0, schedule="exponential", total_env_steps=10), "end_e=0.0"),
        (lambda: EpsilonDecay(), "total_env_steps"),
        (lambda: ReplayCollector(num_envs=0), "num_envs=0"),
        (lambda: ReplayCollector(train_frequency=-1), "train_frequency=-1"),
    ],
)
def test_callback_arguments_are_validated(factory, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        factory()
