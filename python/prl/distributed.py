"""torch.distributed for prl: one code path for a single process and for ``torchrun``.

    torchrun --nproc-per-node 2 -m prl.train --config configs/X.yaml     # FSDP2, one rank per process
    python -m prl.train --config configs/X.yaml                          # the same code, world size 1

How a training step is split:
- Prompts are split across ranks in contiguous blocks (:func:`shard_range`); every rank samples the
  n completions of its own prompts, so a group never straddles ranks.
- Advantages are computed on the *whole* batch: each rank gathers the per-sample inputs
  (:func:`all_gather_padded`), runs the estimator, and keeps its own rows.  Batch-global statistics
  (PRIME's batch normalisation and whitening) are then exactly those of a single process.
- The loss normalizer is the whole batch's (:func:`all_reduce_sum`); FSDP2 averages gradients over
  ranks, so each rank scales its loss by the world size (:attr:`DistEnv.loss_scale`), which makes the
  gradient equal to the single-process gradient of the same global batch.
- Policy, reference and PRM are sharded with FSDP2 ``fully_shard`` (each decoder layer, then the
  root); rank 0 logs and writes checkpoints, gathering full state dicts (:func:`full_state_dict`),
  so a checkpoint written by N ranks loads in any number of ranks, or in plain transformers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = [
    "DistEnv",
    "init_distributed",
    "shutdown",
    "shard_range",
    "shard_model",
    "all_gather_padded",
    "all_reduce_sum",
    "all_gather_objects",
    "broadcast_object",
    "barrier",
    "full_state_dict",
    "load_full_state_dict",
    "full_optimizer_state_dict",
    "load_full_optimizer_state_dict",
    "full_tensor",
]


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands: rank, world size and the device it computes on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def loss_scale(self) -> float:
        """Factor on each rank's loss so FSDP's gradient averaging yields the global-batch gradient."""
        return float(self.world_size)


def init_distributed(device: str = "auto", backend: str | None = None) -> DistEnv:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); otherwise a 1-process env.

    device: "auto" (CUDA if available, else CPU), "cpu" or "cuda".  backend: default nccl on CUDA,
    gloo on CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda'; got {device!r}")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was asked for but torch.cuda.is_available() is False")
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if dev.type == "cuda" else "gloo"))
    return DistEnv(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def shutdown() -> None:
    """Leave the process group together: a rank that tears gloo down while its peer is still in the
    last collective can abort at exit ("terminate called without an active exception")."""
    if dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def shard_range(n: int, env: DistEnv) -> range:
    """The contiguous block of ``n`` items (prompts) this rank owns; blocks differ in size by at most 1."""
    base, extra = divmod(n, env.world_size)
    start = env.rank * base + min(env.rank, extra)
    return range(start, start + base + (1 if env.rank < extra else 0))


def _decoder_layers(model: nn.Module) -> list[nn.Module]:
    """The repeated transformer blocks of a Hugging Face causal LM (model.model.layers and the like)."""
    for path in ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers"):
        obj: Any = model
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, nn.ModuleList):
            return list(obj)
    return []


def shard_model(model: nn.Module, env: DistEnv, *, reshard_after_forward: bool = True) -> nn.Module:
    """Shard ``model`` with FSDP2 (``fully_shard`` on each decoder layer, then on the root).

    A no-op in a single process.  Parameters become DTensors sharded on dim 0 across the ranks.
    """
    if not env.distributed:
        return model
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(env.device.type, (env.world_size,))
    for layer in _decoder_layers(model):
        fully_shard(layer, mesh=mesh, reshard_after_forward=reshard_after_forward)
    fully_shard(model, mesh=mesh, reshard_after_forward=reshard_after_forward)
    return model


def all_gather_padded(x: Tensor, env: DistEnv, pad_value: float = 0) -> Tensor:
    """Concatenate each rank's ``x`` [b_r, ...] (the trailing dim may differ: it is right-padded
    with ``pad_value`` to the longest) along dim 0, in rank order.  Returns [sum b_r, ...]."""
    if not env.distributed:
        return x
    meta = torch.tensor(list(x.shape) + [0] * (4 - x.dim()), dtype=torch.int64)
    metas = [torch.zeros_like(meta) for _ in range(env.world_size)]
    dist.all_gather(metas, meta)
    shapes = [m[: x.dim()].tolist() for m in metas]
    rows = max(s[0] for s in shapes)
    last = max(s[-1] for s in shapes) if x.dim() > 1 else None
    buf_shape = [rows] + list(x.shape[1:])
    if last is not None:
        buf_shape[-1] = last
    buf = torch.full(buf_shape, pad_value, dtype=x.dtype, device=x.device)
    buf[tuple(slice(0, s) for s in x.shape)] = x
    bufs = [torch.empty_like(buf) for _ in range(env.world_size)]
    if x.device.type == "cpu" and x.dtype == torch.bool:  # gloo has no bool all_gather
        bufs8 = [b.to(torch.uint8) for b in bufs]
        dist.all_gather(bufs8, buf.to(torch.uint8))
        bufs = [b.bool() for b in bufs8]
    else:
        dist.all_gather(bufs, buf)
    return torch.cat([b[: s[0]] for b, s in zip(bufs, shapes)], dim=0)


def all_reduce_sum(value: float | Tensor, env: DistEnv) -> float:
    """Sum of a scalar over ranks (float64 on the wire)."""
    t = torch.as_tensor(float(value), dtype=torch.float64)
    if env.distributed:
        if env.device.type == "cuda":
            t = t.to(env.device)
        dist.all_reduce(t)
    return float(t)


def all_gather_objects(obj: Any, env: DistEnv) -> list[Any]:
    """Every rank's ``obj``, in rank order (a one-element list in a single process)."""
    if not env.distributed:
        return [obj]
    out: list[Any] = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, env: DistEnv, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if not env.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def full_state_dict(model: nn.Module, env: DistEnv) -> dict[str, Tensor]:
    """The unsharded state dict on CPU (complete on rank 0; other ranks get an empty dict).

    Collective under FSDP2: every rank must call it.
    """
    if not env.distributed:
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    sd = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    # tied parameters (one Parameter under several names, e.g. embeddings and lm_head) come back as
    # separate copies; make them one tensor again so save_pretrained writes the tied weight once
    first: dict[int, str] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in first and name in sd and first[id(p)] in sd:
            sd[name] = sd[first[id(p)]]
        first.setdefault(id(p), name)
    return sd  # type: ignore[return-value]  # full state dicts hold tensors only


def load_full_state_dict(model: nn.Module, state: dict[str, Tensor], env: DistEnv) -> None:
    """Load a full (unsharded) state dict into ``model``, sharded or not.  Collective under FSDP2."""
    if not env.distributed:
        model.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=False))  # type: ignore[arg-type]


def full_optimizer_state_dict(model: nn.Module, optimizer: torch.optim.Optimizer, env: DistEnv) -> dict[str, Any]:
    """The optimizer state keyed by parameter names, unsharded, on CPU (complete on rank 0).

    Collective under FSDP2.  Loadable with :func:`load_full_optimizer_state_dict` in any world size.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=env.distributed)
    return get_optimizer_state_dict(model, optimizer, options=opts)


def load_full_optimizer_state_dict(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any], env: DistEnv) -> None:
    """Load a state dict from :func:`full_optimizer_state_dict` into a (sharded or plain) optimizer."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))


def full_tensor(x: Tensor) -> Tensor:
    """A plain tensor from a DTensor (clip_grad_norm_ of FSDP2-sharded parameters returns one)."""
    return x.full_tensor() if hasattr(x, "full_tensor") else x
