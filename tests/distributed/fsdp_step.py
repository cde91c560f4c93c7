"""One PPO step of a tiny Llama under prl.distributed, run by tests/distributed/test_fsdp.py.

    torchrun --nproc-per-node N tests/distributed/fsdp_step.py OUT_DIR

Every rank builds the same model and the same global batch of 8 samples (4 prompts x 2), keeps the
rows of its own prompts, computes GRPO advantages on the gathered batch, the PPO loss with the
global normalizer, steps AdamW, and rank 0 saves the full state dict and the loss.
"""

import json
import sys

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from prl import distributed as D
from prl.algos import grpo_advantages, ppo_clip_loss

out = sys.argv[1]
env = D.init_distributed("cpu")
torch.manual_seed(0)
cfg = LlamaConfig(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64)
model = LlamaForCausalLM(cfg)
model = D.shard_model(model, env)
opt = torch.optim.AdamW(model.parameters(), lr=1e-2)

g = torch.Generator().manual_seed(1)
B, T = 8, 10
ids = torch.randint(0, 32, (B, T), generator=g)
mask = torch.ones(B, T - 1)
mask[:, :3] = 0  # the first 3 targets are "prompt"
mask[5, 7:] = 0  # a shorter response
rewards = torch.tensor([1.0, 0, 1, 1, 0, 0, 1, 0])
group_ids = torch.arange(4).repeat_interleave(2)

prompts = D.shard_range(4, env)
rows = torch.arange(prompts.start * 2, prompts.stop * 2)

# advantages on the whole (gathered) batch, then this rank's rows
all_rewards = D.all_gather_padded(rewards[rows], env)
all_groups = D.all_gather_padded(group_ids[rows], env)
all_mask = D.all_gather_padded(mask[rows], env)
adv = grpo_advantages(all_rewards, all_groups, all_mask)[rows]
norm = D.all_reduce_sum(mask[rows].sum(), env)

logits = model(input_ids=ids[rows]).logits[:, :-1].float()
logp = torch.log_softmax(logits, -1).gather(-1, ids[rows, 1:, None]).squeeze(-1)
loss, _ = ppo_clip_loss(logp, logp.detach() - 0.05, adv, mask[rows], normalizer=norm)
(loss * env.loss_scale).backward()
opt.step()
total = D.all_reduce_sum(loss.detach(), env)
state = D.full_state_dict(model, env)
if env.is_main:
    torch.save(state, f"{out}/state.pt")
    json.dump({"loss": total, "world": env.world_size}, open(f"{out}/loss.json", "w"))
D.shutdown()
