"""Process control through accelerate: one rank per process under `accelerate launch` / `torchrun`,
gloo on CPU (so two CPU processes work and are tested here), NCCL on GPUs, a single process
otherwise. Everything else in evalkit is rank-agnostic."""

from __future__ import annotations

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


def init_ranks(device: str = "auto") -> Ranks:
    from accelerate import PartialState

    use_cpu = device == "cpu" or not torch.cuda.is_available()
    state = PartialState(cpu=use_cpu)
    if use_cpu:
        chosen = torch.device("cpu")
    else:
        chosen = state.device  # cuda:<local rank>
    return Ranks(rank=state.process_index, world_size=state.num_processes, device=chosen, _state=state)
