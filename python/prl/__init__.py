"""prl: reinforcement learning from verifiable rewards with cheap process rewards.

Subpackages:
  prl.algos   pure tensor functions: advantage estimators, PPO-clip loss, step ids (with loop oracles)
  prl.ops     the compiled `prl::segmented_future_kl` torch op (C++/CUDA) and its PyTorch reference
"""

__version__ = "0.1.0"
