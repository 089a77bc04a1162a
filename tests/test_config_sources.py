"""Configs that name the implementation they follow weigh the value loss as that implementation does.

lit_rl's value loss is the plain mean squared error, as in Stable-Baselines3; CleanRL halves it, so the
same ``vf_coef`` weighs it half as much there.
"""

import pytest
import torch
import yaml
from conftest import ROOT

from lit_rl.policy_losses import value_loss

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def cleanrl_value_loss(values, returns):
    return 0.5 * ((values - returns) ** 2).mean()  # cleanrl/ppo.py, ppo_atari.py: loss = ... + v_loss * vf_coef


def sb3_value_loss(values, returns):
    return torch.nn.functional.mse_loss(returns, values)  # stable_baselines3 PPO and A2C: + vf_coef * value_loss


# config: (the source its header names, that source's value loss, that source's vf_coef)
SOURCES = {
    "ppo_pong.yaml": ("CleanRL", cleanrl_value_loss, 0.5),
    "ppo_cartpole.yaml": ("Stable-Baselines3", sb3_value_loss, 0.5),
    "a2c_cartpole.yaml": ("Stable-Baselines3", sb3_value_loss, 0.5),
}


def header(path):
    """The comment lines a config starts with."""
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines[: next(i for i, x in enumerate(lines) if not x.startswith("#"))])


def test_every_config_that_names_a_source_and_has_a_value_loss_is_checked_below():
    for path in CONFIGS:
        cites = any(source in header(path) for source in ("CleanRL", "Stable-Baselines3", "SB3"))
        has_value_loss = "vf_coef" in yaml.safe_load(path.read_text())["model"]["init_args"]
        assert (cites and has_value_loss) == (path.name in SOURCES), path.name


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_the_value_loss_has_the_weight_it_has_in_the_cited_source(name):
    source, source_value_loss, source_vf_coef = SOURCES[name]
    path = ROOT / "configs" / name
    assert source in header(path)
    vf_coef = yaml.safe_load(path.read_text())["model"]["init_args"]["vf_coef"]
    values, returns = torch.randn(64, generator=torch.Generator().manual_seed(0)), torch.linspace(-3, 3, 64)
    weighted = vf_coef * value_loss(values, returns)
    assert weighted.item() == pytest.approx(source_vf_coef * source_value_loss(values, returns).item())
