"""What Lightning's machinery costs lit_rl: its DQN against a plain PyTorch DQN loop doing the same work.

The plain loop below uses the same env (``lit_rl.envs.make_vector_env``: a gymnasium sync vector env, or
ale-py's native vector env for Atari ids), the same network (``lit_rl.networks.build_network``: the MLP,
or the Nature CNN for frames), the same buffer (``lit_rl.ReplayBuffer``, or ``FrameReplayBuffer`` for
frames), the same hyperparameters (``--config``, default ``configs/dqn_cartpole.yaml``, with any
``--model-arg`` overrides) and the same per-step work as ``lit_rl.DQN``: ``learning_starts`` random
steps, then per env step an epsilon-greedy action (linear schedule over ``exploration_fraction x
total``) and one ``add`` (through ``lit_rl.NStepReplayBuffer`` when ``n_step > 1``, as lit_rl does), and
every ``train_frequency`` env steps a round of ``gradient_steps`` gradient steps: one ``sample`` of all
the round's minibatches and one target-network forward pass over their next states (the target only
changes between rounds), then per minibatch a (Double-)DQN target (``lit_rl.td_targets.td_targets``),
the Huber loss, Adam (learning rate annealed by env steps when ``anneal_lr``), grad-norm clipping
(``max_grad_norm``, with lit_rl's ``clip_grad_norm``), and a hard target copy every
``target_update_interval`` gradient steps.
No evaluation. lit_rl runs the same number of env steps through ``LightningCLI`` and ``Trainer.fit``
with evaluation off (a huge ``eval_interval`` and ``--trainer.limit_val_batches 0``). Two lit_rl variants are timed: as
configured (TensorBoard logger, the config's ``log_every_n_steps``) and with ``--trainer.logger false``.

Repeats are interleaved (plain, lit_rl, lit_rl without logger, plain, ...), or with ``--side-by-side``
each lit_rl variant runs at the same time as its own plain loop (one process and core each; the ratio
is taken within the pair); medians are reported.

    python benchmarks/dqn_plain_pytorch.py                         # 20,000 env steps x 3 repeats
    python benchmarks/dqn_plain_pytorch.py --env-steps 5000 --repeats 1 --only lit_rl   # e.g. under py-spy
    python benchmarks/dqn_plain_pytorch.py --cprofile 6000         # + cProfile of both loops (top functions)
    python benchmarks/dqn_plain_pytorch.py --side-by-side     # the CartPole table of benchmarks/README.md
    # Pong from pixels, a 50,000-transition buffer, 5,000 random steps then 8,000 training env steps:
    python benchmarks/dqn_plain_pytorch.py --side-by-side --config configs/dqn_pong.yaml --env-steps 13000 \
        --repeats 2 --only plain lit_rl --model-arg buffer_size=50000 --model-arg learning_starts=5000 \
        --out benchmarks/results/dqn_plain_pytorch_pong.json
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    CONFIGS,
    RESULTS,
    EvalClock,
    lit_rl_cli,
    machine,
    machine_line,
    optimizer_from_config,
    patch_evaluation,
    quiet,
    run_group,
    set_torch_threads,
    snapshot_config,
    spread,
    write_json,
)

CONFIG = CONFIGS / "dqn_cartpole.yaml"
# --model-arg NAME=VALUE, for both loops (e.g. a smaller Pong buffer); I/O features are off in both.
MODEL_ARGS: dict[str, Any] = {}
NO_IO = {"record_video": False, "save_replay_buffer": False}


def plain_dqn(total_env_steps: int, seed: int) -> dict[str, Any]:
    """DQN on the config's env and values, as one would write it without Lightning."""
    from lit_rl.algorithms.common import clip_grad_norm
    from lit_rl.envs import episodes_ended, make_vector_env
    from lit_rl.frame_replay_buffer import make_replay_buffer
    from lit_rl.n_step_replay import NStepReplayBuffer
    from lit_rl.networks import build_network
    from lit_rl.schedules import linear_schedule
    from lit_rl.td_targets import td_targets

    config = yaml.safe_load(CONFIG.read_text())
    hp = {"network": "auto", "hidden_sizes": (256, 256), **config["model"]["init_args"], **MODEL_ARGS}
    if hp.get("tau", 1.0) != 1.0 or hp.get("exploration_schedule", "linear") != "linear":
        raise ValueError("the plain loop copies the target network and decays epsilon linearly only")
    clip = hp.get("max_grad_norm")
    start, cpu_start = time.perf_counter(), time.process_time()
    torch.manual_seed(seed)
    env = make_vector_env(hp["env_id"], hp["num_envs"], hp.get("env_kwargs"))
    num_envs, num_actions = hp["num_envs"], int(env.single_action_space.n)
    space = env.single_observation_space
    q_network = build_network(space, num_actions, hp["network"], hp["hidden_sizes"])  # MLP or Nature CNN
    target_network = copy.deepcopy(q_network).requires_grad_(False)
    optimizer_class, optimizer_kwargs = optimizer_from_config(hp)
    optimizer = optimizer_class(q_network.parameters(), lr=hp["learning_rate"], **optimizer_kwargs)
    buffer = make_replay_buffer(space, hp["buffer_size"], num_envs, seed=seed)  # frames: FrameReplayBuffer
    if hp.get("n_step", 1) > 1:  # n-step returns, summed when stored, as lit_rl.DQN does
        buffer = NStepReplayBuffer(buffer, hp["n_step"], hp["gamma"], num_envs)
    rng = np.random.default_rng(seed)
    exploration_steps = int(hp["exploration_fraction"] * total_env_steps)
    loss_fn = F.smooth_l1_loss if hp["loss"] == "huber" else F.mse_loss

    obs, _ = env.reset(seed=seed)
    resetting = np.zeros(num_envs, dtype=bool)  # next-step autoreset: that row is not a transition
    env_steps = vector_steps = gradient_steps = 0
    episode_returns: list[float] = []
    while env_steps < total_env_steps:
        # Act: random during the warm-up, then epsilon-greedy.
        epsilon = linear_schedule(hp["start_e"], hp["end_e"], exploration_steps, env_steps)
        if env_steps < hp["learning_starts"]:
            actions = rng.integers(num_actions, size=num_envs)
        else:
            with torch.inference_mode():
                actions = q_network(torch.as_tensor(obs)).argmax(dim=1).numpy()
            explore = rng.random(num_envs) < epsilon
            actions = np.where(explore, rng.integers(num_actions, size=num_envs), actions)
        next_obs, rewards, terminated, truncated, info = env.step(actions)
        buffer.add(obs, actions, rewards, next_obs, terminated, truncated, valid=~resetting)
        resetting = episodes_ended(info, num_envs)  # as lit_rl: a lost Atari life ends no game
        obs = next_obs
        env_steps += num_envs
        vector_steps += 1
        if "episode" in info and info["_episode"].any():
            episode_returns.extend(info["episode"]["r"][info["_episode"]].tolist())
        # Learn.
        if env_steps <= hp["learning_starts"] or vector_steps % hp["train_frequency"]:
            continue
        if hp.get("anneal_lr"):  # linear decay to 0 over total_env_steps, by env steps
            for group in optimizer.param_groups:
                group["lr"] = linear_schedule(hp["learning_rate"], 0.0, total_env_steps, env_steps)
        batch = buffer.sample(hp["batch_size"] * hp["gradient_steps"])
        with torch.no_grad():
            next_q_targets = target_network(batch.next_obs).split(hp["batch_size"])
        for minibatch, next_q_target in zip(batch.split(hp["gradient_steps"]), next_q_targets, strict=True):
            q_taken = q_network(minibatch.obs).gather(1, minibatch.actions.long().unsqueeze(1)).squeeze(1)
            with torch.no_grad():
                next_q_online = q_network(minibatch.next_obs) if hp["double_dqn"] else None
                targets = td_targets(minibatch.rewards, minibatch.terminated, next_q_target, hp["gamma"],
                                     next_q_online, minibatch.n_steps)  # fmt: skip
            loss = loss_fn(q_taken, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                clip_grad_norm(optimizer, clip)
            optimizer.step()
            gradient_steps += 1
        # Between rounds, as lit_rl's TargetNetworkUpdate: every interval that ended in this round.
        interval = hp["target_update_interval"]
        if gradient_steps // interval > (gradient_steps - hp["gradient_steps"]) // interval:
            with torch.no_grad():
                torch._foreach_copy_(list(target_network.parameters()), list(q_network.parameters()))
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    env.close()
    return {"env_steps": env_steps, "gradient_steps": gradient_steps, "seconds": round(seconds, 3),
            "env_steps_per_sec": round(env_steps / seconds, 1), "cpu_seconds": round(cpu_seconds, 3),
            "env_steps_per_cpu_sec": round(env_steps / cpu_seconds, 1), "episodes": len(episode_returns)}  # fmt: skip


def lit_rl_dqn(total_env_steps: int, seed: int, logger: bool, root: str) -> dict[str, Any]:
    """The same env steps through lit_rl.DQN + Lightning (no checkpoints, evaluation excluded)."""
    from lit_rl.evaluation import evaluate_episodes

    model_args = {"total_env_steps": total_env_steps, "eval_interval": 10**9, **NO_IO, **MODEL_ARGS}
    trainer_args = ["--trainer.limit_val_batches", "0", *([] if logger else ["--trainer.logger", "false"])]
    cli = lit_rl_cli(CONFIG, seed, root, model_args, *trainer_args)
    module = cli.model
    clock = EvalClock()
    with patch_evaluation(clock.timed(evaluate_episodes, lambda: module.env_steps)):  # in case it evaluates
        clock.restart()
        cli.trainer.fit(module)
        seconds, cpu_seconds = clock.train_seconds(), clock.train_cpu_seconds()
    return {"env_steps": module.env_steps, "gradient_steps": cli.trainer.global_step,
            "seconds": round(seconds, 3), "eval_seconds_excluded": round(clock.eval_seconds, 3),
            "env_steps_per_sec": round(module.env_steps / seconds, 1), "cpu_seconds": round(cpu_seconds, 3),
            "env_steps_per_cpu_sec": round(module.env_steps / cpu_seconds, 1)}  # fmt: skip


VARIANTS = {
    "plain": lambda steps, seed, root: plain_dqn(steps, seed),
    "lit_rl": lambda steps, seed, root: lit_rl_dqn(steps, seed, True, root),
    "lit_rl_no_logger": lambda steps, seed, root: lit_rl_dqn(steps, seed, False, root),
}


def run_variant(
    variant: str, steps: int, repeat: int, root: str, config: Path, model_args: dict[str, Any]
) -> dict[str, Any]:
    """One timed run. Also a side-by-side worker's entry point: a fresh interpreter, so it sets the globals."""
    global CONFIG
    quiet()
    set_torch_threads(1)
    CONFIG = config
    MODEL_ARGS.update(model_args)  # a worker starts from the defaults; in this process, a no-op
    return {"variant": variant, "repeat": repeat, **VARIANTS[variant](steps, repeat, root)}


def profile(variant: str, steps: int, root: str, top: int = 25) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    VARIANTS[variant](steps, 1, root)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def plain_partner(runs: list[dict[str, Any]], run: dict[str, Any]) -> dict[str, Any]:
    """The plain loop run beside ``run`` (side by side), else the one of the same repeat."""
    key = "pair" if "pair" in run else "repeat"
    return next(r for r in runs if r["variant"] == "plain" and r.get(key) == run[key])


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=CONFIGS / "dqn_cartpole.yaml", help="a DQN config")
    parser.add_argument("--env-steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--model-arg", action="append", default=[], metavar="NAME=VALUE",
        help="override a model argument in both loops, e.g. --model-arg buffer_size=50000",
    )  # fmt: skip
    parser.add_argument("--only", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument(
        "--side-by-side", action="store_true",
        help="run each lit_rl variant at the same time as its own plain loop (one process and core each)",
    )  # fmt: skip
    parser.add_argument("--cprofile", type=int, default=0, help="also cProfile each variant for this many env steps")
    parser.add_argument("--out", type=Path, default=RESULTS / "dqn_plain_pytorch.json")
    args = parser.parse_args()
    quiet()
    set_torch_threads(1)
    global CONFIG
    for item in args.model_arg:
        name, _, value = item.partition("=")
        MODEL_ARGS[name] = yaml.safe_load(value)
    import lit_rl.algorithms.dqn  # noqa: F401  import the package once, at the start: see snapshot_config

    CONFIG = snapshot_config(args.config, tempfile.mkdtemp(prefix="lit_rl_bench_configs_"))
    payload = {"benchmark": "dqn_plain_pytorch", "machine": machine(), "env_steps": args.env_steps,
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "config": CONFIG.read_text(), "model_args": MODEL_ARGS, "runs": []}  # fmt: skip
    if args.side_by_side and "plain" not in args.only:
        parser.error("--side-by-side pairs each lit_rl variant with a plain loop: keep 'plain' in --only")
    pairs = 0
    with tempfile.TemporaryDirectory(prefix="lit_rl_bench_") as root:
        for repeat in range(1, args.repeats + 1):
            if args.side_by_side:
                groups = [["plain", variant] for variant in args.only if variant != "plain"]
            else:  # interleaved
                groups = [[variant] for variant in args.only]
            for group in groups:
                jobs = [(variant, args.env_steps, repeat, root, CONFIG, MODEL_ARGS) for variant in group]
                pairs += len(jobs) > 1
                results = run_group(run_variant, jobs, pairs)
                for result in results:
                    payload["runs"].append(result)
                    print(result, flush=True)
                    write_json(args.out, payload)
        profiles = {v: profile(v, args.cprofile, root) for v in args.only} if args.cprofile else {}
    lines = [
        f"DQN ({args.config}{''.join(f', {k}={v}' for k, v in MODEL_ARGS.items())}), {args.env_steps:,} env steps, "
        "no evaluation, "
        f"{args.repeats} {'side-by-side' if args.side_by_side else 'interleaved'} repeats. Cells: median "
        "(min–max). Wall-clock rates follow the machine's "
        "load; CPU-time rates (process CPU seconds, all threads) are what the loop itself costs.",
        "",
        "| loop | env-steps/s (wall) | ratio to plain (wall) | env-steps per CPU-second | ratio to plain (CPU) |",
        "|---|---|---|---|---|",
    ]
    for variant in args.only:
        cells = []
        for key in ("env_steps_per_sec", "env_steps_per_cpu_sec"):
            runs = [r for r in payload["runs"] if r["variant"] == variant]
            ratio = "—"
            if "plain" in args.only and variant != "plain":
                per_repeat = [r[key] / plain_partner(payload["runs"], r)[key] for r in runs]
                ratio = spread(per_repeat, "{:.2f}") + "×"
                payload[f"ratio_{variant}_to_plain_{key}"] = per_repeat
            cells += [spread([r[key] for r in runs]), ratio]
        label = {"plain": "plain PyTorch", "lit_rl": "lit_rl (TensorBoard logger, as configured)",
                 "lit_rl_no_logger": "lit_rl, `--trainer.logger false`"}[variant]  # fmt: skip
        lines.append(f"| {label} | {' | '.join(cells)} |")
    lines += ["", machine_line(payload["machine"])]
    write_json(args.out, payload)
    print()
    print("\n".join(lines))
    for variant, text in profiles.items():
        print(f"\n===== cProfile: {variant}, {args.cprofile} env steps =====\n{text}")


if __name__ == "__main__":
    main_benchmark()
