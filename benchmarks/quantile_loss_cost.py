"""QR-DQN's quantile Huber loss: lit_rl's form against the textbook expression in u, and against a Pong step.

The loss builds ``[B, N, N']`` tensors (every online quantile against every target quantile); at
``configs/qrdqn_pong.yaml``'s 200 quantiles and batch 32 that is 1.28M elements per gradient step.
``textbook`` writes the loss as an expression in ``u = target - online`` (``where(|u| <= k, u^2 / 2,
k (|u| - k / 2))``, ``|tau - 1{u < 0}|``): a dozen tensors of that size in the forward pass and as many
in the backward. ``lit_rl`` is ``lit_rl.distributional.quantile_huber_loss``: torch's fused Huber kernel
and one weight tensor. Each row times forward + backward of the loss alone; the last row is a whole
QR-DQN Pong gradient step (Nature CNN with 6 x 200 outputs at batch 32: online and target forward
passes, the loss, backward, fused Adam) under the precision ``auto_cpu_precision`` picks, so the loss's
share of a step can be read off. Cases are interleaved within each round; medians over rounds.

    PYTHONPATH=. python benchmarks/quantile_loss_cost.py            # ~1 min, 1 torch thread
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import RESULTS, machine, machine_line, set_torch_threads  # noqa: E402

from lit_rl.cpu import cpu_precision  # noqa: E402
from lit_rl.distributional import quantile_huber_loss  # noqa: E402
from lit_rl.networks.nature_cnn import NatureCNN  # noqa: E402

SHAPES = [(32, 200), (128, 51), (128, 200)]  # (batch, quantiles): Pong's, then CartPole-sized batches


def textbook_quantile_huber_loss(quantiles: Tensor, target_quantiles: Tensor, kappa: float = 1.0) -> Tensor:
    """The same loss written as an expression in ``u`` (lit_rl's form before this benchmark)."""
    n = quantiles.shape[-1]
    tau_hat = (2 * torch.arange(n, dtype=torch.float32) + 1) / (2 * n)
    u = target_quantiles.detach().float().unsqueeze(1) - quantiles.float().unsqueeze(2)
    abs_u = u.abs()
    huber = torch.where(abs_u <= kappa, 0.5 * u**2, kappa * (abs_u - 0.5 * kappa)) / kappa
    weight = (tau_hat.unsqueeze(1) - (u.detach() < 0).float()).abs()
    return (weight * huber).mean(dim=2).sum(dim=1)


def loss_case(loss: Callable[[Tensor, Tensor], Tensor], batch: int, quantiles: int) -> Callable[[], None]:
    generator = torch.Generator().manual_seed(0)
    online = torch.randn(batch, quantiles, generator=generator, requires_grad=True)
    target = 2 * torch.randn(batch, quantiles, generator=generator)

    def step() -> None:
        loss(online, target).mean().backward()

    return step


def pong_step_case(precision: str, num_quantiles: int = 200, batch: int = 32) -> Callable[[], None]:
    online = NatureCNN(4, 6 * num_quantiles, 84, 84)
    target = NatureCNN(4, 6 * num_quantiles, 84, 84).requires_grad_(False)
    optimizer = torch.optim.Adam(online.parameters(), lr=5e-5, fused=True)
    obs = torch.randint(0, 255, (batch, 4, 84, 84), dtype=torch.uint8)
    actions = torch.randint(0, 6, (batch,))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
            with torch.no_grad():
                next_quantiles = target(obs).float().view(batch, 6, num_quantiles)
                next_quantiles = next_quantiles[torch.arange(batch), next_quantiles.mean(2).argmax(1)]
            taken = online(obs).float().view(batch, 6, num_quantiles)[torch.arange(batch), actions]
        loss = quantile_huber_loss(taken, 0.99 * next_quantiles).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def timed(function: Callable[[], None], steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        function()
    return (time.perf_counter() - start) * 1e3 / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="calls per case and round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precision", default=cpu_precision(), choices=["32-true", "bf16-mixed"])
    parser.add_argument("--output", type=Path, default=RESULTS / "quantile_loss_cost.json")
    args = parser.parse_args()
    set_torch_threads(args.threads)
    info = machine() | {"precision": args.precision}
    cases = {}
    for batch, quantiles in SHAPES:
        cases[f"textbook, {batch} x {quantiles}"] = loss_case(textbook_quantile_huber_loss, batch, quantiles)
        cases[f"lit_rl, {batch} x {quantiles}"] = loss_case(quantile_huber_loss, batch, quantiles)
    cases["QR-DQN Pong gradient step (lit_rl's loss)"] = pong_step_case(args.precision)
    for function in cases.values():
        timed(function, 2)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, function in cases.items():
            times[name].append(timed(function, args.steps))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"{machine_line(info)}, {args.precision}; load average at end {os.getloadavg()[0]:.2f}")
    print(f"median of {args.rounds} rounds of {args.steps} calls, ms per call (forward + backward)\n")
    print("| batch x quantiles | textbook (ms) | lit_rl (ms) | speed-up |")
    print("|---|---|---|---|")
    for batch, quantiles in SHAPES:
        old, new = medians[f"textbook, {batch} x {quantiles}"], medians[f"lit_rl, {batch} x {quantiles}"]
        print(f"| {batch} x {quantiles} | {old:.2f} | {new:.2f} | {old / new:.2f}x |")
    step = medians["QR-DQN Pong gradient step (lit_rl's loss)"]
    old, new = medians["textbook, 32 x 200"], medians["lit_rl, 32 x 200"]
    print(f"\nQR-DQN Pong gradient step, {args.precision}: {step:.1f} ms with lit_rl's loss ({new / step:.0%} of it); "
          f"the textbook loss would make it ~{step - new + old:.1f} ms ({old / (step - new + old):.0%}).")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {"machine": info, "load_average_at_end": os.getloadavg(), "rounds_ms": times, "median_ms": medians}
    args.output.write_text(json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
