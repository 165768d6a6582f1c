"""Data-parallel training on PyTorch's own engine (DistributedDataParallel).

A run trains in one process unless ``torchrun`` started it (``derain train
--nproc N``, or :func:`launch`): torchrun sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` in each of its N processes (the ranks), and :func:`process_group`
joins them into one group, gloo on a CPU and nccl on GPUs (rank r on GPU
``LOCAL_RANK``). Without those variables nothing of this module runs and the
loop is the one-process loop, step for step.

How the batch is shared. Every rank draws the global batch of the one-process
run from the same random stream (the run's numpy Generator, seeded alike and
advanced alike on every rank) and keeps its slice: of the ``b`` items of a step,
rank r of W keeps items ``r * b / W`` to ``(r + 1) * b / W - 1``
(:meth:`World.shard`), so ``batch_size`` must be a multiple of W. Over a run each
rank thus sees its own share of the scenes, and the W slices of a step are the
one-process batch. DDP averages the ranks' gradients; every loss term of the
time-lapse and supervised objectives is a mean over equally many pixels of each
slice, or (L_v, whose mean runs over the masked pixels of the whole batch) is
reduced across the ranks before it is taken
(:class:`~derain.losses.DirectionalGradientNet`), so the averaged gradient is the
one-process gradient and a run on W processes follows the run on one, up to the
order of floating-point sums. Two objectives are not split exactly: Rain2Avoid
draws its random fill per slice, and GT-Rain's contrastive loss takes its
negatives within a slice.

Only rank 0 validates and writes (checkpoint, ``history.json``, ``model.pt``).
The logged loss parts are the means over the ranks, which for every mean term is
the one-process value (the gradient shares are the ranks' mean share). The
checkpoint holds nothing that depends on the number of processes, so a run
continues under any world size.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of a run: ``rank`` of ``size``, on
    GPU ``local_rank`` of its machine (with nccl)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that validates, logs and writes."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """Where this rank computes: its own GPU under nccl, else ``device``."""
        if device.type == "cuda" and self.size > 1:
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def shard(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This rank's slice (along the first axis) of each of ``tensors``, the
        items of one global batch; all of them unchanged on one process."""
        if self.size == 1:
            return tensors
        n = tensors[0].shape[0]
        if n % self.size:
            raise ValueError(f"a batch of {n} does not split into {self.size} "
                             "equal slices")
        part = n // self.size
        return tuple(t[self.rank * part:(self.rank + 1) * part] for t in tensors)

    def wrap(self, net: nn.Module) -> nn.Module:
        """``net`` in DistributedDataParallel (which averages the ranks'
        gradients during the backward pass); ``net`` itself on one process."""
        if self.size == 1:
            return net
        on_gpu = next(net.parameters()).device.type == "cuda"
        return DistributedDataParallel(
            net, device_ids=[self.local_rank] if on_gpu else None)

    def average_gradients(self, params: Iterable[nn.Parameter]) -> None:
        """Averages over the ranks the gradients of parameters that DDP does not
        hold (those of the loss itself, e.g. L_v's cluster centres)."""
        if self.size == 1:
            return
        for param in params:
            if param.grad is not None:
                dist.all_reduce(param.grad)
                param.grad /= self.size

    def mean(self, parts: dict[str, float]) -> dict[str, float]:
        """The means over the ranks of the logged values ``parts`` (every rank
        logs the same keys)."""
        if self.size == 1:
            return parts
        keys = sorted(parts)
        values = torch.tensor([parts[k] for k in keys], dtype=torch.float64)
        dist.all_reduce(values)
        return {k: float(v) for k, v in zip(keys, values / self.size, strict=True)}

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()


def world_from_env() -> World:
    """The world torchrun describes in the environment; one process without it."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", 0)))


@contextmanager
def process_group(device: torch.device) -> Iterator[World]:
    """This process's :class:`World`, with its process group joined (gloo, or
    nccl for ``device`` on CUDA) for the duration of the block and left after
    it; on one process nothing is joined."""
    world = world_from_env()
    if world.size == 1 or dist.is_initialized():
        yield world
        return
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield world
    finally:
        dist.destroy_process_group()
