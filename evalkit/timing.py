"""When this process started, for the start-up time a run reports (command -> first batch)."""

from __future__ import annotations

import os
import time
from typing import Optional


def process_started_at() -> Optional[float]:
    """Epoch seconds at which this process was started (Linux: /proc), None where unknown."""
    try:
        with open("/proc/self/stat") as f:
            # Field 22 (starttime, clock ticks after boot); the command name (field 2) may hold spaces.
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def startup_seconds(first_batch_at: Optional[float]) -> Optional[float]:
    started = process_started_at()
    if first_batch_at is None or started is None:
        return None
    return round(first_batch_at - started, 3)
