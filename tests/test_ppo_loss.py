import math

import pytest
import torch

from lit_rl.policy_losses import (
    approx_kl,
    clip_fraction,
    clipped_surrogate_loss,
    explained_variance,
    masked_mean,
    normalize,
    value_loss,
)

# ratio, advantage, objective min(r * A, clip(r, 0.8, 1.2) * A), d(objective)/d(ratio)
TABLE = [
    (0.5, 1.0, 0.5, 1.0),  # ratio fell: the unclipped term is smaller, the gradient flows
    (0.9, 1.0, 0.9, 1.0),
    (1.0, 1.0, 1.0, 1.0),
    (1.1, 1.0, 1.1, 1.0),
    (1.5, 1.0, 1.2, 0.0),  # good action already made much likelier: clipped, no gradient
    (0.5, -1.0, -0.8, 0.0),  # bad action already made much rarer: clipped, no gradient
    (0.9, -1.0, -0.9, -1.0),
    (1.1, -1.0, -1.1, -1.0),
    (1.5, -1.0, -1.5, -1.0),  # bad action made likelier: the pessimistic bound keeps the gradient
]


@pytest.mark.parametrize(("ratio", "advantage", "objective", "gradient"), TABLE)
def test_clipped_surrogate_loss_on_a_ratio_table(ratio, advantage, objective, gradient):
    r = torch.tensor([ratio], requires_grad=True)
    loss = clipped_surrogate_loss(r, torch.tensor([advantage]), clip_coef=0.2)
    loss.backward()
    assert loss.item() == pytest.approx(-objective)
    assert r.grad.item() == pytest.approx(-gradient)


def test_clipped_surrogate_loss_averages_over_valid_rows_only():
    ratio = torch.tensor([1.5, 0.5, 9.0])
    advantages = torch.tensor([1.0, 1.0, 100.0])
    loss = clipped_surrogate_loss(ratio, advantages, 0.2, mask=torch.tensor([True, True, False]))
    assert loss.item() == pytest.approx(-(1.2 + 0.5) / 2)


def test_value_loss_clipped_takes_the_larger_error():
    values, old, returns = torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([2.0])
    assert value_loss(values, returns).item() == pytest.approx(1.0)
    # The clipped value may move 0.2 from 0: (0.2 - 2)^2 = 3.24 > (1 - 2)^2.
    assert value_loss(values, returns, old, clip_coef=0.2).item() == pytest.approx(3.24)
    # Moving towards the return within the clip range: both errors are (0.1 - 2)^2.
    assert value_loss(torch.tensor([0.1]), returns, old, 0.2).item() == pytest.approx(3.61)


def test_approx_kl_clip_fraction_and_explained_variance_by_hand():
    log_ratio = torch.tensor([math.log(2.0), 0.0])
    assert approx_kl(log_ratio).item() == pytest.approx((2 - 1 - math.log(2)) / 2)
    assert clip_fraction(torch.tensor([0.5, 1.1, 1.3, 1.0]), 0.2).item() == pytest.approx(0.5)
    returns = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(returns, returns).item() == pytest.approx(1.0)
    assert explained_variance(torch.zeros(4) + 2.5, returns).item() == pytest.approx(0.0)
    assert masked_mean(torch.tensor([1.0, 3.0, 100.0]), torch.tensor([True, True, False])).item() == 2.0
    normalized = normalize(torch.tensor([1.0, 3.0, 100.0]), torch.tensor([True, True, False]))
    assert normalized[:2].tolist() == pytest.approx([-1.0, 1.0], abs=1e-6)


def test_precomputed_mean_weights_give_the_same_means_as_the_mask():
    from lit_rl.policy_losses import mean_weights

    x, mask = torch.tensor([1.0, 3.0, 100.0, -2.0]), torch.tensor([True, True, False, True])
    weights = mean_weights(mask)
    assert weights.tolist() == pytest.approx([1 / 3, 1 / 3, 0.0, 1 / 3])
    assert torch.allclose(masked_mean(x, weights), masked_mean(x, mask))
    assert torch.allclose(normalize(x, weights), normalize(x, mask))
    assert masked_mean(x, mean_weights(torch.zeros(4, dtype=torch.bool))).item() == 0.0
