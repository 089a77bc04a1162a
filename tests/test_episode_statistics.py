"""EpisodeStatistics: its means are computed on the module's device (NCCL refuses CPU tensors)."""

from types import SimpleNamespace

import torch
from torchmetrics.aggregation import MeanMetric

from lit_rl.episode_statistics import EpisodeStatistics


class DeviceProbe(MeanMetric):
    """A MeanMetric that records the devices of its states whenever it is updated or computed.

    It computes NaN (no episode finished), so the test needs no numbers from a device that holds none.
    """

    def __init__(self) -> None:
        super().__init__(nan_strategy="error")
        self.seen = []

    def update(self, value, weight=1.0) -> None:
        self.seen.append({state.device for state in self.metric_state.values()})

    def compute(self) -> torch.Tensor:
        self.seen.append({state.device for state in self.metric_state.values()})
        return torch.tensor(float("nan"))


def test_every_metric_state_is_on_the_modules_device_when_it_is_used():
    # The module sits on another device than the metrics (CPU): "meta" stands in for a GPU on a CPU-only
    # machine, as CUDA would under NCCL.
    module = SimpleNamespace(device=torch.device("meta"), log=lambda *args, **kwargs: None, loggers=[])
    statistics = EpisodeStatistics()
    statistics.returns, statistics.lengths = DeviceProbe(), DeviceProbe()
    statistics.log(module, env_steps=8)
    for metric in (statistics.returns, statistics.lengths):
        assert metric.seen == [{module.device}] * 2  # the zero-weight update and compute()
        assert {state.device for state in metric.metric_state.values()} == {module.device}
