"""How many DataLoader worker processes decode and preprocess images ahead of the model.

`num_workers=auto` (the default) takes one worker per spare core, up to 4: on a GPU the model
needs one core to feed it and preprocessing is the CPU work that would stall it; on a CPU-only
machine the model's own threads share the cores with the workers, and one worker already keeps
LLaVA-1.5's preprocessing (~15 ms per image, 13 of them inside the HF image processor) off the
critical path. Ranks launched together on one machine split its cores (LOCAL_WORLD_SIZE).

With workers, a feature-cache hit still skips the vision tower, but the worker (which holds a
stale forked copy of the cache) has preprocessed the pixels already, in parallel. Workers are forked (the model is not pickled); where fork is missing (Windows,
macOS' default is spawn but fork exists) or on a 1-core machine, auto means inline (0).
"""

from __future__ import annotations

import multiprocessing
import os

MAX_AUTO_WORKERS = 4


def available_cores() -> int:
    """Cores this process may run on (the affinity mask: a Slurm or container limit), not the
    machine's total."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def resolve_workers(setting: int | str, cores: int | None = None) -> int:
    """`num_workers` as configured ("auto", or an integer as int or string) -> a worker count."""
    if str(setting).strip().lower() != "auto":
        count = int(setting)
        if count < 0:
            raise ValueError(f"num_workers must be auto or >= 0, got {setting!r}")
        return count
    if "fork" not in multiprocessing.get_all_start_methods():
        return 0
    cores = available_cores() if cores is None else cores
    # Several ranks on one machine (torchrun / accelerate launch) share its cores.
    cores //= max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return max(0, min(MAX_AUTO_WORKERS, cores - 1))
