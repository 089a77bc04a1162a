"""Preallocated on-policy rollout storage: ``num_steps`` vector-env steps of ``num_envs`` envs."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from lit_rl.checks import check_positive
from lit_rl.gae import gae_advantages


class RolloutBatch(NamedTuple):
    """Rollout steps, one row each, tagged with the rollout they came from."""

    obs: Tensor
    actions: Tensor  # the sampled (unclipped) actions
    logprobs: Tensor  # log-probabilities under the policy that collected the rollout
    values: Tensor  # value estimates at collection time
    advantages: Tensor
    returns: Tensor  # value targets: advantages + values
    valid: Tensor  # False for next-step-autoreset rows (and steps an algorithm leaves out)
    rollout_id: int

    def rows(self, indices: Tensor) -> RolloutBatch:
        """The minibatch of rows ``indices`` (a tensor on the batch's device)."""
        return RolloutBatch(*(x[indices] for x in self[:-1]), self.rollout_id)


class RolloutBuffer:
    """One rollout, written step by step by the collector and read back whole by the module.

    ``rollout_id`` grows by one each time a new rollout starts (``reset``), so a batch can
    always be traced to the rollout it was gathered from. Observations keep the env's dtype.

    >>> buffer = RolloutBuffer(num_steps=2, num_envs=1, observation_shape=(3,))
    >>> buffer.reset()
    >>> for _ in range(2):
    ...     buffer.add(np.zeros((1, 3)), np.array([1]), torch.zeros(1), torch.zeros(1),
    ...                np.array([1.0]), np.array([False]), np.array([False]), np.array([True]))
    >>> buffer.compute_returns(torch.zeros(1), gamma=1.0, gae_lambda=1.0)
    >>> buffer.full, buffer.rollout_id, buffer.returns[:, 0].tolist()
    (True, 1, [2.0, 1.0])
    """

    def __init__(
        self,
        num_steps: int,
        num_envs: int,
        observation_shape: tuple[int, ...],
        observation_dtype: np.dtype | type = np.float32,
        action_shape: tuple[int, ...] = (),
        action_dtype: torch.dtype = torch.int64,
    ) -> None:
        check_positive("num_steps", num_steps)
        check_positive("num_envs", num_envs)
        self.num_steps, self.num_envs = num_steps, num_envs
        shape = (num_steps, num_envs)
        obs_dtype = torch.from_numpy(np.zeros(0, dtype=observation_dtype)).dtype
        self.obs = torch.zeros(*shape, *observation_shape, dtype=obs_dtype)
        self.actions = torch.zeros(*shape, *action_shape, dtype=action_dtype)
        self.logprobs = torch.zeros(shape)
        self.values = torch.zeros(shape)
        self.rewards = torch.zeros(shape)
        self.terminated = torch.zeros(shape, dtype=torch.bool)
        self.truncated = torch.zeros(shape, dtype=torch.bool)
        self.valid = torch.zeros(shape, dtype=torch.bool)
        self.advantages = torch.zeros(shape)
        self.returns = torch.zeros(shape)
        # numpy views of the same memory: add() writes an env step through them, at a fraction of the
        # cost of torch's index assignment. Every tensor above is therefore only ever written in place.
        self.step_arrays = {
            name: getattr(self, name).numpy()
            for name in ("obs", "actions", "logprobs", "values", "rewards", "terminated", "truncated", "valid")
        }
        self.pos = 0
        self.rollout_id = 0
        self.ready = False  # True once a full rollout has its advantages

    @property
    def full(self) -> bool:
        return self.pos == self.num_steps

    def __len__(self) -> int:
        return self.num_steps * self.num_envs

    def reset(self) -> None:
        """Start a new rollout; minibatches of the previous one become stale."""
        self.pos = 0
        self.rollout_id += 1
        self.ready = False

    def add(
        self,
        obs: np.ndarray,
        actions: Tensor,
        logprobs: Tensor,
        values: Tensor,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        valid: np.ndarray,
    ) -> None:
        """Store one vector-env step (one row per sub-environment)."""
        if self.full:
            raise RuntimeError(f"RolloutBuffer is full ({self.num_steps} steps); call reset() first.")
        t, arrays = self.pos, self.step_arrays
        arrays["obs"][t] = obs
        arrays["actions"][t] = np.asarray(actions).reshape(arrays["actions"].shape[1:])
        arrays["logprobs"][t] = logprobs.detach().cpu().numpy()
        arrays["values"][t] = values.detach().cpu().numpy()
        # The reset step of next-step autoreset carries reward 0 and no transition; make sure.
        arrays["rewards"][t] = np.where(valid, rewards, 0.0)
        arrays["terminated"][t] = terminated
        arrays["truncated"][t] = truncated
        arrays["valid"][t] = valid
        self.pos += 1

    def compute_returns(self, next_value: Tensor, gamma: float, gae_lambda: float) -> None:
        """GAE advantages and value targets, once the rollout is full."""
        if not self.full:
            raise RuntimeError(f"the rollout holds {self.pos} of {self.num_steps} steps; it is not complete.")
        # Written into the preallocated tensors: called under inference mode, fresh results would be
        # inference tensors, which autograd refuses to save for the loss's backward pass.
        self.advantages.copy_(gae_advantages(
            self.rewards, self.values, next_value.detach().cpu(), self.terminated, self.truncated,
            self.valid, gamma, gae_lambda,
        ))
        torch.add(self.advantages, self.values, out=self.returns)
        self.ready = True

    def batch(self) -> RolloutBatch:
        """The whole rollout, flattened to ``[num_steps * num_envs]`` rows.

        Views, not copies, except ``[C, H, W]`` frames: copied once into the channels_last layout that
        the convolutions read, which the minibatches gathered from them keep (each would otherwise be
        permuted again in every epoch).
        """
        obs = self.obs.flatten(0, 1)
        if obs.dim() == 4:
            obs = obs.contiguous(memory_format=torch.channels_last)
        return RolloutBatch(
            obs, self.actions.flatten(0, 1), self.logprobs.flatten(), self.values.flatten(),
            self.advantages.flatten(), self.returns.flatten(), self.valid.flatten(), self.rollout_id,
        )
