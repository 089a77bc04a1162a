"""REINFORCE (Williams 1992): Monte-Carlo policy gradient, with an optional learned baseline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor

from lit_rl.algorithms.common import forward_context
from lit_rl.algorithms.on_policy import OnPolicyModule
from lit_rl.checks import check_positive
from lit_rl.gae import discounted_returns, finished_episode_mask
from lit_rl.policy_losses import (
    explained_variance,
    masked_mean,
    mean_weights,
    normalize,
    policy_gradient_loss,
    value_loss,
)
from lit_rl.rollout_buffer import RolloutBatch, RolloutBuffer


class Reinforce(OnPolicyModule):
    """REINFORCE: one gradient step per rollout on the discounted returns of whole episodes.

    A step's Monte-Carlo return is known once its episode ends. The steps of an episode still
    running at a rollout's end are therefore set aside (``unfinished_episodes``) and trained on
    with the rollout in which the episode ends, so every step of every finished episode, from
    its first, enters exactly one gradient step, and the episodes longer than a rollout are
    learned from whole. The set-aside steps were sampled by the policy of an earlier rollout; the
    loss uses them without importance weights (the policy moved by one gradient step per
    rollout since), and the baseline subtracted from their returns is the current one. Steps of
    episodes that have not ended when training stops are never trained on.

    At a truncation the return is bootstrapped from the baseline's value of the final observation
    when there is a baseline, and cut there when there is none. Memory is bounded by
    ``max_carried_steps`` per env: an episode that has been running longer than that at a
    rollout's end is cut there, as if truncated: its pending steps are trained on with that
    rollout, their returns bootstrapped from the baseline's value of the next observation (cut
    without a baseline), and its later steps count as an episode of their own.

    Args:
        env_id: gymnasium environment id, e.g. ``CartPole-v1`` (Discrete or Box actions).
        env_kwargs: extra keyword arguments for ``gymnasium.make_vec``.
        num_envs: sub-environments stepped together in each process.
        num_steps: vector-env steps per rollout.
        total_env_steps: training stops after this many env steps; ``None`` leaves it to the Trainer.
        learning_rate: optimizer learning rate (the start value when annealed).
        optimizer: optimizer class or factory; called with the parameters and ``lr=learning_rate``.
        anneal_lr: decay the learning rate linearly to 0 at ``total_env_steps``.
        gamma: discount factor in ``[0, 1]``.
        baseline: learn a state-value baseline and subtract it from the returns.
        norm_adv: normalise the (baselined) returns over the rollout.
        ent_coef: weight of the entropy bonus.
        vf_coef: weight of the baseline's loss (mean squared error).
        max_grad_norm: clip the global gradient norm to this; ``None`` disables.
        max_carried_steps: most steps of an env's unfinished episode kept for later rollouts (memory:
            up to ``num_envs`` times this many observations); a longer episode is cut at a rollout's end.
        network: ``auto`` (Nature CNN for image observations, MLP otherwise), ``mlp``, ``nature_cnn`` or ``impala_cnn``.
        hidden_sizes: hidden layer widths of the policy (and baseline) MLPs.
        log_std_init: initial log standard deviation of the Gaussian policy (Box actions).
        eval_episodes: greedy episodes played at each evaluation.
        eval_interval: env steps between evaluations (and after the last rollout).
        record_video: after each evaluation, record one episode to ``<log_dir>/videos`` and TensorBoard.
    """

    def __init__(
        self,
        env_id: str = "CartPole-v1",
        env_kwargs: dict[str, Any] | None = None,
        num_envs: int = 8,
        num_steps: int = 1000,
        total_env_steps: int | None = 500_000,
        learning_rate: float = 1e-3,
        optimizer: OptimizerCallable = torch.optim.Adam,
        anneal_lr: bool = False,
        gamma: float = 0.99,
        baseline: bool = True,
        norm_adv: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float | None = 0.5,
        max_carried_steps: int = 10_000,
        network: str = "auto",
        hidden_sizes: Sequence[int] = (64, 64),
        log_std_init: float = 0.0,
        eval_episodes: int = 20,
        eval_interval: int = 50_000,
        record_video: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer"])
        self.init_on_policy(optimizer, update_epochs=1, num_minibatches=1)
        check_positive("max_carried_steps", max_carried_steps)
        self.unfinished_episodes = UnfinishedEpisodes(num_envs, max_carried_steps)
        self.carried_steps: RolloutBatch | None = None  # the set-aside steps the current rollout trains on

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if stage == "fit":
            self.unfinished_episodes.clear()  # the collector starts new episodes

    @torch.inference_mode()
    def state_values(self, obs: np.ndarray | Tensor) -> Tensor:
        """The baseline's values of a batch of observations, on the CPU (rollout-sized forward passes)."""
        obs = torch.as_tensor(obs)
        values = [torch.zeros(0)]
        with forward_context(self):  # as the rollout's own values were computed
            for chunk in torch.split(obs, len(self.rollout_buffer)) if len(obs) else ():
                values.append(self.policy.value(chunk.to(self.device)).float().cpu())
        return torch.cat(values)

    @torch.inference_mode()
    def finish_rollout(self, next_obs: np.ndarray) -> None:
        buffer, hp = self.rollout_buffer, self.hparams
        if hp.baseline:
            next_value = self.state_values(next_obs)
        else:
            buffer.values.zero_()  # no baseline: the advantage is the return itself
            next_value = torch.zeros(buffer.num_envs)
        # lambda = 1: discounted sums of rewards to the episode's end (bootstrapped at truncation),
        # or to the rollout's end, bootstrapped from next_value, for the episodes still running.
        buffer.compute_returns(next_value, hp.gamma, gae_lambda=1.0)
        finished = finished_episode_mask(buffer.terminated, buffer.truncated, buffer.valid)
        carried, cut = self.unfinished_episodes.update(buffer, finished, hp.gamma)
        # Steps of running episodes wait in unfinished_episodes for their return, unless cut here.
        buffer.valid &= finished | cut
        values = self.state_values(carried["obs"]) if hp.baseline else torch.zeros(len(carried["returns"]))
        returns = carried["returns"]
        self.carried_steps = RolloutBatch(
            carried["obs"], carried["actions"], carried["logprobs"], values, returns - values, returns,
            torch.ones(len(returns), dtype=torch.bool), buffer.rollout_id,
        )
        self.rollout_explained_variance = explained_variance(
            torch.cat([buffer.values.flatten(), values]),
            torch.cat([buffer.returns.flatten(), returns]),
            torch.cat([buffer.valid.flatten(), self.carried_steps.valid]),
        )

    def training_step(self, batch: RolloutBatch, batch_idx: int) -> None:
        """The rollout's update, on its finished episodes' steps and their set-aside earlier steps."""
        carried = self.carried_steps
        if carried is None or carried.rollout_id != batch.rollout_id:
            raise RuntimeError(
                f"training_step got rollout {batch.rollout_id}, but the set-aside steps were released for "
                f"rollout {None if carried is None else carried.rollout_id}."
            )
        device = batch.obs.device
        batch = RolloutBatch(
            *(torch.cat([rows, extra.to(device)]) for rows, extra in zip(batch[:-1], carried[:-1], strict=True)),
            batch.rollout_id,
        )
        super().training_step(batch, batch_idx)

    def compute_loss(self, batch: RolloutBatch) -> tuple[Tensor, dict[str, Tensor]]:
        hp = self.hparams
        mask = mean_weights(batch.valid)  # one mask for all the means below
        dist, values = self.policy(batch.obs)
        advantages = normalize(batch.advantages, mask) if hp.norm_adv else batch.advantages
        policy_loss = policy_gradient_loss(dist.log_prob(batch.actions), advantages, mask)
        entropy = masked_mean(dist.entropy(), mask)
        loss = policy_loss - hp.ent_coef * entropy
        metrics = {"policy_loss": policy_loss, "entropy": entropy}
        if hp.baseline:
            metrics["value_loss"] = value_loss(values, batch.returns, mask=mask)
            loss = loss + hp.vf_coef * metrics["value_loss"]
        return loss, metrics


class UnfinishedEpisodes:
    """Per env, the steps of the episode still running at the end of the last rollout, in order.

    Only real transitions are kept (no autoreset rows): observations, sampled actions, their
    log-probabilities and rewards, copied out of the rollout buffer before the next rollout
    overwrites it.

    Args:
        num_envs: sub-environments of the vector env.
        max_steps: most steps kept per env; an episode running longer is cut at a rollout's end.
    """

    FIELDS = ("obs", "actions", "logprobs", "rewards")

    def __init__(self, num_envs: int, max_steps: int) -> None:
        check_positive("max_steps", max_steps)
        self.num_envs, self.max_steps = num_envs, max_steps
        self.clear()

    def clear(self) -> None:
        """Forget every kept step: the env was reset, these episodes will never end."""
        self.steps: list[dict[str, Tensor] | None] = [None] * self.num_envs

    def lengths(self) -> list[int]:
        """Steps kept per env."""
        return [0 if s is None else len(s["rewards"]) for s in self.steps]

    def update(self, buffer: RolloutBuffer, finished: Tensor, gamma: float) -> tuple[dict[str, Tensor], Tensor]:
        """Take in a rollout whose returns ``buffer.compute_returns`` computed.

        Releases the kept steps of each env whose episode ended in this rollout, or is cut at its
        end, and keeps the steps of the episodes still running.

        Args:
            buffer: the rollout, its returns computed with lambda = 1.
            finished: ``[num_steps, num_envs]`` the rollout's steps whose episode ends in it.
            gamma: discount factor.

        Returns:
            The released steps (``obs``, ``actions``, ``logprobs``, ``returns``: the returns to their
            episode's end, or to the cut), and the ``[num_envs]`` mask of the envs whose running
            episode is cut at this rollout's end: its steps in the rollout are to be trained on now.
        """
        ended = (buffer.terminated | buffer.truncated).any(0).tolist()
        running = buffer.valid & ~finished  # the steps of each env's episode still running at the end
        cut = torch.zeros(self.num_envs, dtype=torch.bool)
        released = {name: [getattr(buffer, name)[:0, 0]] for name in ("obs", "actions", "logprobs")}
        released["returns"] = [torch.zeros(0)]
        for env in range(self.num_envs):
            kept = None if ended[env] else self.steps[env]  # steps of the episode still running
            rows = running[:, env].nonzero().squeeze(1)
            cut[env] = len(rows) + (0 if kept is None else len(kept["rewards"])) > self.max_steps
            if self.steps[env] is not None and not buffer.valid[0, env]:
                raise RuntimeError(f"env {env} was reset while the steps of its running episode were kept.")
            if self.steps[env] is not None and (ended[env] or cut[env]):
                # The kept steps' episode goes on at the rollout's first step, whose return (to the
                # episode's end, or bootstrapped at the rollout's end) is known now.
                steps = self.steps[env]
                next_return = buffer.returns[0, env].reshape(1)
                steps["returns"] = discounted_returns(steps["rewards"][:, None], gamma, next_return)[:, 0]
                for name, parts in released.items():
                    parts.append(steps[name])
                kept = None
            if cut[env]:  # its steps in this rollout are trained on now: nothing is kept
                self.steps[env] = None
                continue
            # Indexing with a tensor copies the rows out of the buffer, which the next rollout overwrites.
            new = {name: getattr(buffer, name)[rows, env] for name in self.FIELDS}
            if kept is not None:
                new = {name: torch.cat([kept[name], new[name]]) for name in self.FIELDS}
            self.steps[env] = new if len(new["rewards"]) else None
        return {name: torch.cat(steps) for name, steps in released.items()}, cut
