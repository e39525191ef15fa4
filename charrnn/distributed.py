"""Data-parallel training under `torchrun`: process-group setup from its environment variables, and the few
collectives the trainer needs. Everything is PyTorch's own (torch.distributed, DistributedDataParallel).

Teardown matters: a process group that outlives the Python interpreter keeps gloo's worker threads running into
its shutdown, and a worker that then takes the GIL (to free a tensor it held for the last collective) is killed
mid-destructor: the rank aborts with "terminate called without an active exception" (SIGABRT). So the group is
destroyed at the latest at exit, and nothing may keep it alive past `destroy_process_group`.
"""
from __future__ import annotations

import atexit
import importlib
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    """This process's place in the job: rank 0 of 1, not enabled, when not launched by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    enabled: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """torchrun (and other launchers of torch.distributed) set RANK and WORLD_SIZE for every process."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init(device: str = "auto") -> Context:
    """Join the process group that torchrun described in the environment (nccl for CUDA, gloo for CPU).

    Does nothing outside torchrun. On CUDA each process takes the GPU numbered by LOCAL_RANK.
    """
    if not launched_by_torchrun():
        return Context()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA devices are visible: "
                             f"use --nproc_per_node at most the number of GPUs")
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        # torch.distributed.nn.functional binds `group=group.WORLD` as default arguments when first imported
        # (DistributedDataParallel imports it, through torch._dynamo); imported after init_process_group, those
        # defaults hold the group forever, and destroy_process_group() can no longer free it. Import it first.
        importlib.import_module("torch.distributed.nn")

        # rank 0 validates alone while the others wait in their next collective: allow for long validations
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", timeout=timedelta(hours=1),
                                device_id=torch.device("cuda", local_rank) if use_cuda else None)
        atexit.unregister(shutdown)  # once, however often a process joins a group
        atexit.register(shutdown)  # for callers of train() who never call shutdown(); runs before the teardown
    return context()


def context() -> Context:
    """The current process group's rank and size (rank 0 of 1 when there is none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Context()
    return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), enabled=True)


def shutdown() -> None:
    """Leave the process group (joining its threads): at the end of a run, and at exit if still joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when `flag` is true on at least one (so all ranks stop at the same step)."""
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def gather(obj) -> list:
    """Every rank's `obj`, in rank order, on every rank."""
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
