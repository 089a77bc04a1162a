"""What SAC and TD3 share beyond ``OffPolicyModule``: bounded Box actions, their scaling, random actions, DDP."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import numpy as np
import torch
from gymnasium import spaces
from lightning.pytorch.strategies import DDPStrategy
from torch import Tensor, nn

from lit_rl.algorithms.common import check_losses_finite
from lit_rl.checks import ConfigurationError
from lit_rl.networks import is_image_space


def check_bounded_box_actions(
    algorithm: str, env_id: str, observation_space: spaces.Space, action_space: spaces.Space
) -> None:
    """Refuse what an MLP actor with tanh-bounded outputs cannot act in, naming the env and the alternative."""
    if not isinstance(action_space, spaces.Box):
        raise ConfigurationError(
            f"env_id={env_id!r} has action space {action_space}, but {algorithm} needs a continuous (Box) action "
            "space; use DQN or PPO for discrete actions."
        )
    if not (np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()):
        raise ConfigurationError(
            f"env_id={env_id!r} has action bounds low={action_space.low.tolist()}, high={action_space.high.tolist()}, "
            f"but {algorithm} needs finite bounds: its actions are squashed into them. Wrap the env in "
            "gymnasium.wrappers.ClipAction with finite bounds, or use PPO."
        )
    if is_image_space(observation_space):
        raise ConfigurationError(
            f"env_id={env_id!r} has image observations {observation_space.shape}; {algorithm} uses MLP networks on "
            "vector observations."
        )


class ActionScaling(nn.Module):
    """Maps actions between the networks' ``[-1, 1]`` and the env's bounds ``[low, high]``, per dimension."""

    def __init__(self, action_space: spaces.Box) -> None:
        super().__init__()
        low = torch.as_tensor(action_space.low, dtype=torch.float32)
        high = torch.as_tensor(action_space.high, dtype=torch.float32)
        # Not parameters, and rebuilt from the action space: kept out of the state_dict.
        self.register_buffer("center", (high + low) / 2, persistent=False)
        self.register_buffer("half_range", (high - low) / 2, persistent=False)

    def to_env(self, unit_actions: Tensor) -> Tensor:
        return self.center + self.half_range * unit_actions.float()

    def to_unit(self, env_actions: Tensor) -> Tensor:
        return ((env_actions.float() - self.center) / self.half_range).clamp(-1.0, 1.0)


def with_random_actions(
    policy_actions: Callable[[np.ndarray], np.ndarray],
    obs: np.ndarray,
    epsilon: float,
    rng: np.random.Generator,
    action_space: spaces.Box,
) -> np.ndarray:
    """``policy_actions(obs)``, each env's replaced with probability ``epsilon`` by one uniform in the bounds.

    ``epsilon=1`` (the ``learning_starts`` warm-up) skips the forward pass.
    """
    n = len(obs)
    random = rng.random(n) < epsilon if 0.0 < epsilon < 1.0 else np.full(n, epsilon >= 1.0)
    uniform = lambda: rng.uniform(action_space.low, action_space.high, size=(n, *action_space.shape))  # noqa: E731
    if random.all():
        return uniform().astype(np.float32)
    actions = policy_actions(obs)
    if random.any():
        actions = np.where(random[:, None], uniform(), actions).astype(np.float32)
    return actions


def let_ddp_skip_unused_parameters(module: L.LightningModule) -> None:
    """Let DDP reduce gradients when a backward pass leaves some parameters out (call in ``setup``).

    The critic's loss does not reach the actor, and TD3 updates its actor only every ``policy_frequency``
    steps; DDP's default (``find_unused_parameters=False``) waits for every parameter's gradient and
    fails. Lightning's own strategy name ``ddp_find_unused_parameters_true`` means the same.
    """
    strategy = module.trainer.strategy if module._trainer is not None else None
    if not isinstance(strategy, DDPStrategy):
        return
    if strategy._ddp_kwargs.get("find_unused_parameters") is False:
        raise ConfigurationError(
            f"{type(module).__name__} updates its actor and critics in separate backward passes, which DDP's "
            "find_unused_parameters=False cannot reduce; use --trainer.strategy ddp (lit_rl turns the option on) "
            "or ddp_find_unused_parameters_true."
        )
    strategy._ddp_kwargs["find_unused_parameters"] = True


def critic_loss(q_values: Tensor, targets: Tensor) -> Tensor:
    """The critics' summed mean squared TD errors: ``q_values`` is ``[num_critics, B]``, ``targets`` ``[B]``."""
    return (q_values.float() - targets).pow(2).mean(dim=1).sum()


def finish_round(
    module: L.LightningModule, critic_losses: list[Tensor], actor_losses: list[Tensor], q_values: list[Tensor]
) -> Tensor:
    """End one round of SAC's or TD3's gradient steps: count it trained on, stop on a non-finite loss, log.

    Returns the round's mean critic loss, detached (the gradient steps are taken).
    """
    if module.replay_dataset is not None:
        module.replay_dataset.mark_trained()
    advice = "Try a lower learning_rate or gradient clipping (--model.max_grad_norm)."
    first_step = module.gradient_updates - len(critic_losses)
    check_losses_finite(module, torch.stack(critic_losses + actor_losses), first_step, advice)
    critic_loss_mean = torch.stack(critic_losses).mean()
    if module.trainer._logger_connector.should_update_logs:
        module.log("train/critic_loss", critic_loss_mean)
        module.log("train/q_values", torch.stack(q_values).mean())
        if actor_losses:  # with policy_frequency > 1 a round may have no actor step
            module.log("train/actor_loss", torch.stack(actor_losses).mean())
    return critic_loss_mean
