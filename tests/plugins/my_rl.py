"""A user's plugin, as the README shows it: one estimator with a setting and one reward function."""
from dataclasses import dataclass

import torch

import prl


@dataclass
class SignedConfig:
    scale: float = 2.0  # algo.signed.scale


@prl.algos.register_estimator("signed", config=SignedConfig, min_group=2)
def signed(rewards, group_ids, response_mask, *, scale):
    """+scale above the group's mean reward, -scale below, on every token."""
    mean = torch.zeros(int(group_ids.max()) + 1).index_add_(0, group_ids, rewards) / torch.bincount(group_ids)
    return scale * torch.sign(rewards - mean[group_ids])[:, None] * response_mask


@prl.rewards.register_reward("short")
def short(completions, references, **kw):
    return [1.0 if len(c) <= 3 else 0.0 for c in completions]
