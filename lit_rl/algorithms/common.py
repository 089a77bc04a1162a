"""Small pieces every lit_rl LightningModule uses: its evaluation env, evaluation, callbacks, checkpoint records."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import lightning as L
import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from lit_rl.checks import ConfigurationError
from lit_rl.cpu import threads_per_process
from lit_rl.envs import make_vector_env
from lit_rl.evaluation import evaluate_episodes
from lit_rl.seeding import run_seed

EVAL_SEED_OFFSET = 1_000_000  # evaluation episodes never share seeds with training envs

# lit_rl's modules optimize manually. A checkpoint at global_step N then holds the weights after N
# optimizer steps, which is what the step in its name says; Lightning's warning about it is noise.
warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization", category=UserWarning)


def open_evaluation_env(module: L.LightningModule) -> tuple[gym.vector.VectorEnv | None, spaces.Space, spaces.Space]:
    """Rank 0's evaluation env (``eval_episodes`` sub-environments) and the env's spaces.

    Evaluation runs on rank 0 only; other ranks open one env just to read the spaces, and get ``None``.
    """
    hp = module.hparams
    rank = module.trainer.global_rank if module._trainer is not None else 0
    processes = module.trainer.num_devices if module._trainer is not None else 1
    env = make_vector_env(
        hp.env_id, hp.eval_episodes if rank == 0 else 1, hp.env_kwargs, num_threads=threads_per_process(processes)
    )
    observation_space, action_space = env.single_observation_space, env.single_action_space
    if rank != 0:
        env.close()
        env = None
    return env, observation_space, action_space


def evaluate_and_log(
    module: L.LightningModule, policy: Callable[[np.ndarray], np.ndarray], env: gym.vector.VectorEnv | None
) -> None:
    """Play one episode per evaluation sub-environment on rank 0 and log ``eval/*`` on every rank."""
    scores = None
    if module.trainer.is_global_zero:
        returns, lengths = evaluate_episodes(policy, env, seed=run_seed() + EVAL_SEED_OFFSET)
        scores = (float(returns.mean()), float(returns.std()), float(lengths.mean()))
    module.num_evaluations += 1
    # Every rank logs rank 0's scores, so checkpoint callbacks can monitor them on any rank.
    mean_return, std_return, mean_length = module.trainer.strategy.broadcast(scores, src=0)
    module.log("eval/episodic_return", mean_return, prog_bar=True, batch_size=1)
    module.log("eval/episodic_return_std", std_return, batch_size=1)
    module.log("eval/episodic_length", mean_length, batch_size=1)


def forward_context(module: L.LightningModule) -> contextlib.AbstractContextManager:
    """The Trainer's precision context for a forward pass outside ``training_step`` (autocast under
    mixed precision), so that acting computes what training computes; none without a Trainer."""
    trainer = module._trainer
    return trainer.precision_plugin.forward_context() if trainer is not None else contextlib.nullcontext()


def callbacks_not_given(module: L.LightningModule, defaults: list[L.Callback]) -> list[L.Callback]:
    """The default callbacks whose class the Trainer was not given: a Trainer's (e.g. YAML's) one wins."""
    given = module.trainer.callbacks if module._trainer is not None else []
    return [c for c in defaults if not any(isinstance(g, type(c)) for g in given)]


def reject_trainer_gradient_clipping(module: L.LightningModule) -> None:
    """Refuse ``Trainer(gradient_clip_val=...)``: the module clips its own gradients (``max_grad_norm``).

    lit_rl's modules optimize manually (several gradient steps per Lightning batch), and Lightning
    does not clip gradients for manual optimization.
    """
    trainer = module._trainer
    clip = trainer.gradient_clip_val if trainer is not None and trainer.state.fn == "fit" else None
    if clip:
        raise ConfigurationError(
            f"--trainer.gradient_clip_val={clip} is not used by {type(module).__name__}: it clips gradients "
            f"itself. Remove it and pass --model.max_grad_norm={clip} (the global gradient-norm limit) instead."
        )


def optimizer_steps_allowed(module: L.LightningModule, wanted: int) -> int:
    """``wanted``, or fewer so that this batch's optimizer steps end exactly at ``Trainer(max_steps)``.

    Lightning checks ``max_steps`` between batches only, and one lit_rl batch takes several optimizer steps.
    """
    max_steps = module.trainer.max_steps
    return wanted if max_steps is None or max_steps < 0 else max(1, min(wanted, max_steps - module.global_step))


def clip_grad_norm(optimizer: torch.optim.Optimizer, max_norm: float) -> Tensor:
    """Scale the optimizer's gradients so that their global L2 norm is at most ``max_norm``; return that norm.

    ``torch.nn.utils.clip_grad_norm_``'s result for gradients on one device, in two foreach kernels
    with half its Python overhead: it runs before every optimizer step, and on small networks the
    overhead is the cost.
    """
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not grads:
        return torch.zeros(())
    total_norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, (max_norm / (total_norm + 1e-6)).clamp(max=1.0))
    return total_norm


def check_losses_finite(module: L.LightningModule, losses: Tensor, first_step: int, advice: str) -> None:
    """Stop training if any of a batch's losses (one per gradient step from ``first_step``) is NaN or infinite.

    Called before the batch ends, so no checkpoint is written after the first bad step.
    """
    finite = torch.isfinite(losses)
    if not finite.all():
        bad = int(finite.logical_not().nonzero()[0])
        raise FloatingPointError(
            f"train/loss became {losses[bad].item()} at gradient step {first_step + bad} (env step "
            f"{module.env_steps}); training stopped and the last saved checkpoint was left as it was. {advice}"
        )


def checkpoint_record(module: L.LightningModule, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The ``checkpoint["lit_rl"]`` record, after checking it was written by this algorithm on this env."""
    state = checkpoint.get("lit_rl")
    name = type(module).__name__
    if state is None or state.get("algorithm") != name:
        found = "no lit_rl state" if state is None else f"a {state.get('algorithm')} checkpoint"
        raise ConfigurationError(f"This checkpoint holds {found}; {name} cannot load it.")
    if state["env_id"] != module.hparams.env_id:
        raise ConfigurationError(
            f"This checkpoint was trained on env_id={state['env_id']!r}, not env_id={module.hparams.env_id!r}."
        )
    return state


def recorded_observation_space(state: dict[str, Any]) -> spaces.Box:
    """The observation space a checkpoint record describes (for rebuilding networks without an env)."""
    dtype = np.dtype(state["observation_dtype"])
    low, high = (0, 255) if dtype == np.uint8 else (-np.inf, np.inf)
    return spaces.Box(low, high, tuple(state["observation_shape"]), dtype)


def action_space_record(space: spaces.Space) -> dict[str, Any]:
    """A checkpoint record's description of a ``Discrete`` or ``Box`` action space (plain data)."""
    return {
        "num_actions": int(space.n) if isinstance(space, spaces.Discrete) else None,
        "action_low": space.low.tolist() if isinstance(space, spaces.Box) else None,
        "action_high": space.high.tolist() if isinstance(space, spaces.Box) else None,
    }


def recorded_action_space(state: dict[str, Any]) -> spaces.Space:
    """The action space a checkpoint record describes (see ``action_space_record``)."""
    if state.get("num_actions") is not None:
        return spaces.Discrete(int(state["num_actions"]))
    low, high = (np.array(state[k], dtype=np.float32) for k in ("action_low", "action_high"))
    return spaces.Box(low, high, dtype=np.float32)
