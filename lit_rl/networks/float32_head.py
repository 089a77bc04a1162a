"""Output layers computed in float32, even inside a mixed-precision (autocast) region."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def float32_head(layer: nn.Module, features: Tensor) -> Tensor:
    """``layer(features)`` in float32 whatever the autocast state.

    bf16 keeps 8 significant bits: Q-values ~0.5 apart by 0.002 would round to the same number and
    the argmax would be arbitrary, and logits and values would carry ~0.4% rounding into PPO's
    probability ratios and value targets. The head is a few thousand multiply-adds, against millions
    in the trunk that mixed precision speeds up.
    """
    device_type = features.device.type
    if not torch.is_autocast_enabled(device_type):  # skips the context's ~3 us (a CartPole step is ~100 us)
        return layer(features.float())
    with torch.autocast(device_type, enabled=False):
        return layer(features.float())
