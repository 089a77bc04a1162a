from lit_rl.algorithms.dqn import DQN

__all__ = ["DQN"]
