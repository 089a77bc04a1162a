"""lit_rl: PyTorch Lightning modules for deep reinforcement learning."""

from lit_rl.algorithms import A2C, DQN, PPO, SAC, TD3, Reinforce
from lit_rl.callbacks import (
    CpuThreads,
    EpsilonDecay,
    EvaluationVideo,
    ReplayCollector,
    ReplaySnapshot,
    RolloutCollector,
    TargetNetworkUpdate,
)
from lit_rl.cpu import cpu_precision
from lit_rl.frame_replay_buffer import FrameReplayBuffer
from lit_rl.n_step_replay import NStepReplayBuffer
from lit_rl.prioritized_replay import PrioritizedReplayBuffer
from lit_rl.replay_buffer import ReplayBatch, ReplayBuffer
from lit_rl.replay_dataset import ReplayDataset
from lit_rl.rollout_buffer import RolloutBatch, RolloutBuffer
from lit_rl.rollout_dataset import RolloutDataset
from lit_rl.sum_tree import SumTree

__all__ = [
    "A2C",
    "CpuThreads",
    "DQN",
    "EpsilonDecay",
    "EvaluationVideo",
    "FrameReplayBuffer",
    "NStepReplayBuffer",
    "PPO",
    "PrioritizedReplayBuffer",
    "Reinforce",
    "ReplayBatch",
    "ReplayBuffer",
    "ReplayCollector",
    "ReplayDataset",
    "ReplaySnapshot",
    "RolloutBatch",
    "RolloutBuffer",
    "RolloutCollector",
    "RolloutDataset",
    "SAC",
    "SumTree",
    "TD3",
    "TargetNetworkUpdate",
    "cpu_precision",
]
__version__ = "0.1.0"
