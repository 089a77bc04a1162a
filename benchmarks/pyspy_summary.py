"""Summarise a py-spy ``--format raw`` profile of a DQN loop: the work itself, and everything around it.

    pip install py-spy
    py-spy record -r 250 -f raw -o /tmp/lit_rl.txt -- \\
        python benchmarks/dqn_plain_pytorch.py --env-steps 8000 --repeats 1 --only lit_rl --out /tmp/p.json
    python benchmarks/pyspy_summary.py /tmp/lit_rl.txt

Every sample is put in the bucket of the innermost "work" frame on its stack (the env step, the
replay buffer, the forward/backward passes, the optimizer, ...), unless a Lightning frame is nearer
the leaf; samples with no work frame, or under a Lightning frame, are overhead, and the script lists
the functions (file:function) where that overhead is spent, inclusive (on the stack) and exclusive
(the leaf).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

# (bucket, pattern on "function (file)") -- checked from the leaf upwards; the first hit wins.
WORK = [
    ("env step (gymnasium vector env)", r"\(gymnasium/(vector|envs|wrappers)/"),
    ("replay add", r"^(\w+\.)?add \(.*lit_rl/replay_buffer\.py"),
    ("replay sample", r"^(\w+\.)?(sample|_gather) \(.*lit_rl/replay_buffer\.py"),
    ("backward", r"^(\w+\.)?(backward|_engine_run_backward) \(.*torch/(_tensor|autograd/__init__|autograd/graph)\.py"),
    ("optimizer step (Adam)", r"\(.*torch/optim/"),
    ("grad clipping", r"^(clip_grad_norm_|_clip_grads_with_norm_|_get_total_norm) \("),
    ("target update", r"^polyak_update \(|_foreach_copy_"),
    ("TD target / loss", r"^(td_targets|smooth_l1_loss|mse_loss) \("),
    ("PPO loss", r"^(\w+\.)?compute_loss \("),
    ("GAE / returns", r"^(\w+\.)?(compute_returns|finish_rollout) \("),
    ("rollout add", r"^(\w+\.)?add \(.*lit_rl/rollout_buffer\.py"),
    ("network forward", r"^(\w+\.)?(forward|_call_impl|_wrapped_call_impl) \(.*torch/nn/modules/"),
]


# Frames of the training framework: a sample whose leaf-most classified frame is one of these is overhead
# (e.g. Lightning's closure runs inside Adam.step: its bookkeeping must not count as optimizer work).
FRAMEWORK = r"\((lightning|lightning_utilities|torchmetrics|pytorch_lightning)/"


def parse(path: str) -> list[tuple[list[str], int]]:
    samples = []
    for line in open(path):
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        samples.append((frames, int(count)))
    return samples


def short(frame: str) -> str:
    m = re.match(r"(.*) \((?:.*?/(?:site-packages|main)/)?(.*)\)$", frame)
    return f"{m.group(2)}:{m.group(1)}" if m else frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument(
        "--within",
        default="fit_loop.py|plain_dqn",
        help="only samples whose stack has a frame matching this regex (the training loop)",
    )
    parser.add_argument("--exclude", default="evaluate_episodes", help="drop samples with a frame matching this")
    args = parser.parse_args()
    samples = [
        (f, n)
        for f, n in parse(args.profile)
        if any(re.search(args.within, x) for x in f) and not any(re.search(args.exclude, x) for x in f)
    ]
    total = sum(n for _, n in samples)
    buckets, overhead_incl, overhead_self = Counter(), Counter(), Counter()
    for frames, n in samples:
        bucket = None
        for frame in reversed(frames):
            bucket = next((name for name, pattern in WORK if re.search(pattern, frame)), None)
            if bucket or re.search(FRAMEWORK, frame):
                break  # a framework frame nearer the leaf than any work: framework overhead
        if bucket:
            buckets[bucket] += n
            continue
        buckets["overhead (all else in the loop)"] += n
        overhead_self[short(frames[-1])] += n
        for frame in set(frames):
            overhead_incl[short(frame)] += n
    print(f"{total} samples in the training loop\n\n| bucket | share of loop time |\n|---|---|")
    for name, n in buckets.most_common():
        print(f"| {name} | {100 * n / total:.1f}% |")
    print("\nOverhead, inclusive (function on the stack, share of loop time):")
    for name, n in overhead_incl.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("\nOverhead, exclusive (leaf function):")
    for name, n in overhead_self.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
