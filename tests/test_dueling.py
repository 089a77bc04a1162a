import torch
from torch import nn

from lit_rl.networks import MLP, DuelingHead, NoisyLinear, dueling_q_values


def test_mean_advantage_is_subtracted_by_hand():
    value = torch.tensor([[1.0], [-2.0]])
    advantage = torch.tensor([[1.0, 2.0, 6.0], [0.0, 0.0, 3.0]])  # means 3 and 1
    expected = torch.tensor([[-1.0, 0.0, 4.0], [-3.0, -3.0, 0.0]])
    torch.testing.assert_close(dueling_q_values(value, advantage), expected)


def test_distributional_outputs_are_combined_per_atom():
    value = torch.tensor([[[1.0, 10.0]]])  # [B=1, 1, K=2]
    advantage = torch.tensor([[[1.0, 0.0], [3.0, 4.0]]])  # [B=1, A=2, K=2]; means over actions: 2, 2
    expected = torch.tensor([[[0.0, 8.0], [2.0, 12.0]]])
    torch.testing.assert_close(dueling_q_values(value, advantage), expected)


def test_a_constant_added_to_every_advantage_leaves_q_unchanged():
    torch.manual_seed(0)
    for k in (1, 3):
        head = DuelingHead(5, 8, num_actions=4, num_outputs_per_action=k)
        features = torch.randn(6, 5)
        q = head(features)
        with torch.no_grad():
            head.advantage[-1].bias += 7.0  # the advantage stream's output layer
        torch.testing.assert_close(head(features), q)
        with torch.no_grad():
            head.value[-1].bias += 7.0
        torch.testing.assert_close(head(features), q + 7.0)


def test_the_mean_q_over_actions_is_the_value_stream():
    torch.manual_seed(0)
    head = DuelingHead(5, 8, num_actions=4, num_outputs_per_action=3)
    features = torch.randn(6, 5)
    q = head(features)
    assert q.shape == (6, 4, 3)
    torch.testing.assert_close(q.mean(dim=1), head.value(features))
    assert DuelingHead(5, None, 4)(features).shape == (6, 4)


def test_dueling_mlp_shares_all_but_the_last_hidden_layer():
    net = MLP(4, 3, (16, 32), dueling=True)
    assert [type(m) for m in net.net] == [nn.Linear, nn.ReLU] and net.net[0].out_features == 16
    for stream, outputs in ((net.dueling_head.value, 1), (net.dueling_head.advantage, 3)):
        shapes = [(m.in_features, m.out_features) for m in stream if isinstance(m, nn.Linear)]
        assert shapes == [(16, 32), (32, outputs)]
    no_hidden = MLP(4, 3, (), dueling=True, noisy_nets=True)
    assert [type(m) for m in no_hidden.dueling_head.value] == [NoisyLinear]
    assert no_hidden(torch.zeros(2, 4)).shape == (2, 3)
