"""Process control through accelerate: one rank per process under `accelerate launch` / `torchrun`,
or per task of a submitit job (`hydra.launcher.tasks_per_node` > 1), gloo on CPU (so two CPU
processes work and are tested here), NCCL on GPUs, a single process otherwise. Everything else in
evalkit is rank-agnostic."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Ranks:
    rank: int
    world_size: int
    device: torch.device
    _state: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            self._state.wait_for_everyone()

    def broadcast(self, obj):
        """The main rank's value of obj, on every rank."""
        if self.world_size == 1:
            return obj
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([obj])[0]

    def gather(self, obj) -> list:
        """[obj of rank 0, obj of rank 1, ...] on every rank."""
        if self.world_size == 1:
            return [obj]
        from accelerate.utils import gather_object

        return gather_object([obj])


def export_submitit_ranks() -> bool:
    """Inside a submitit job of several tasks (SLURM `--ntasks-per-node`, or the local executor's
    tasks), export torch.distributed's env:// variables from submitit's JobEnvironment so that
    accelerate's PartialState sees one rank per task, as under `accelerate launch`.

    submitit's own TorchDistributedEnvironment does the mapping: MASTER_ADDR = the job's first
    host, MASTER_PORT drawn from the job id (every task of a job draws the same one, two jobs on one
    node draw different ones), RANK / WORLD_SIZE / LOCAL_RANK / LOCAL_WORLD_SIZE from the task ids.
    CUDA_VISIBLE_DEVICES is left alone: accelerate puts local rank r on cuda:r of the GPUs the node
    gives the job. Returns whether it exported (False outside submitit, with one task, or when a
    launcher inside the job already set RANK / WORLD_SIZE)."""
    if not os.environ.get("SUBMITIT_EXECUTOR") or "RANK" in os.environ or "WORLD_SIZE" in os.environ:
        return False
    from submitit import JobEnvironment
    from submitit.helpers import TorchDistributedEnvironment

    if JobEnvironment().num_tasks <= 1:
        return False
    # overwrite: a MASTER_PORT / MASTER_ADDR left in the environment must not stop the export (a
    # MASTER_PORT set by the user is the one TorchDistributedEnvironment picks).
    dist = TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
    logging.getLogger("evalkit").info("submitit task %d/%d -> torch.distributed rank via %s:%d", dist.rank,
                                      dist.world_size, dist.master_addr, dist.master_port)
    return True


def init_ranks(device: str = "auto") -> Ranks:
    from accelerate import PartialState

    export_submitit_ranks()

    use_cpu = device == "cpu" or not torch.cuda.is_available()
    state = PartialState(cpu=use_cpu)
    if use_cpu:
        chosen = torch.device("cpu")
    else:
        chosen = state.device  # cuda:<local rank>
    return Ranks(rank=state.process_index, world_size=state.num_processes, device=chosen, _state=state)
