from lit_rl.algorithms.a2c import A2C
from lit_rl.algorithms.dqn import DQN
from lit_rl.algorithms.ppo import PPO
from lit_rl.algorithms.reinforce import Reinforce
from lit_rl.algorithms.sac import SAC
from lit_rl.algorithms.td3 import TD3

__all__ = ["A2C", "DQN", "PPO", "SAC", "TD3", "Reinforce"]
