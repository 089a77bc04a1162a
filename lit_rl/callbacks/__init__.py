from lit_rl.callbacks.cpu_threads import CpuThreads
from lit_rl.callbacks.env_stepping import EnvStepping
from lit_rl.callbacks.epsilon_decay import EpsilonDecay
from lit_rl.callbacks.evaluation_video import EvaluationVideo
from lit_rl.callbacks.replay_collector import ReplayCollector
from lit_rl.callbacks.replay_snapshot import ReplaySnapshot
from lit_rl.callbacks.rollout_collector import RolloutCollector
from lit_rl.callbacks.target_network_update import TargetNetworkUpdate, polyak_update

__all__ = [
    "CpuThreads",
    "EnvStepping",
    "EpsilonDecay",
    "EvaluationVideo",
    "ReplayCollector",
    "ReplaySnapshot",
    "RolloutCollector",
    "TargetNetworkUpdate",
    "polyak_update",
]
