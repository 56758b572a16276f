"""How many DataLoader worker processes decode and preprocess images ahead of the model.

`num_workers=auto` (the default) takes one worker per spare core, up to 4: on a GPU the model
needs one core to feed it and preprocessing is the CPU work that would stall it; on a CPU-only
machine the model's own threads share the cores with the workers, and one worker already keeps
LLaVA-1.5's preprocessing (~15 ms per image, 13 of them inside the HF image processor) off the
critical path. Ranks launched together on one machine split its cores (LOCAL_WORLD_SIZE).

With workers, a feature-cache hit still skips the vision tower, but the worker (which holds a
stale forked copy of the cache) has preprocessed the pixels already, in parallel. Workers are forked (the model is not pickled); where fork is missing (Windows,
macOS' default is spawn but fork exists) or on a 1-core machine, auto means inline (0).

Workers never outlive the run: each asks Linux to kill it when its parent dies (prctl
PR_SET_PDEATHSIG), and exits at once if the parent is already gone when it starts, so a `kill -9`
of the run leaves no worker behind holding memory and blocked on a pipe.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys

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


PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, worker_id: int = 0) -> None:
    """DataLoader `worker_init_fn` (bind parent_pid with functools.partial): SIGKILL this worker
    when its parent dies (Linux), and exit now if it died before this call."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl: the parent-pid check below still runs
            pass
    if os.getppid() != parent_pid:
        os._exit(1)
