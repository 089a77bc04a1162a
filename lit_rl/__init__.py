"""lit_rl: PyTorch Lightning modules for deep reinforcement learning."""

from lit_rl.algorithms import DQN
from lit_rl.callbacks import EpsilonDecay, ReplayCollector, TargetNetworkUpdate
from lit_rl.frame_replay_buffer import FrameReplayBuffer
from lit_rl.replay_buffer import ReplayBatch, ReplayBuffer
from lit_rl.replay_dataset import ReplayDataset

__all__ = [
    "DQN",
    "EpsilonDecay",
    "FrameReplayBuffer",
    "ReplayBatch",
    "ReplayBuffer",
    "ReplayCollector",
    "ReplayDataset",
    "TargetNetworkUpdate",
]
__version__ = "0.1.0"
