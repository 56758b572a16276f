"""One benchmark split over independent jobs: `shard.index` / `shard.count` (a SLURM array, a
submitit sweep, or plain commands on several machines).

Item i of the dataset order (after `limit`) belongs to shard `i % count`: deterministic, the same
whatever the number of processes inside each job, and strided so every shard gets long and short
items. All shards of a run write into one run directory, each into its own files
(`shards/shard<I>of<N>-rank<R>.jsonl`), so two jobs never append to one file; resume reads every
shard file of the directory, as for an unsharded run. The job that finds every item predicted
merges and scores (`merge_lock` keeps two finishing at once from doing it together);
`python -m evalkit.merge RUN_DIR` does the same on demand.
"""

from __future__ import annotations

import json
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence, TypeVar

from evalkit.fileio import write_json_atomic
from evalkit.outputs import SHARD_DIR

T = TypeVar("T")
LOCK_NAME = "merge.lock"


def select(items: Sequence[T], index: int, count: int) -> list[T]:
    """This shard's items, in dataset order."""
    return [item for i, item in enumerate(items) if i % count == index]


def file_stem(index: int, count: int) -> str:
    return f"shard{index}of{count}"


def stats_path(run_dir: Path, index: int, count: int) -> Path:
    # Not *.jsonl: shard_rows reads every *.jsonl of shards/ as predictions.
    return run_dir / SHARD_DIR / f"{file_stem(index, count)}.stats.json"


def write_stats(run_dir: Path, index: int, count: int, all_stats: list[dict]) -> None:
    """This shard's per-rank stats of its latest session, for the summary of whichever job merges."""
    write_json_atomic(stats_path(run_dir, index, count), all_stats, default=str)


def read_stats(run_dir: Path) -> list[dict]:
    """Per-rank stats of every shard's latest session, shard by shard."""
    out: list[dict] = []
    for path in sorted((run_dir / SHARD_DIR).glob("shard*.stats.json")):
        out.extend(json.loads(path.read_text(encoding="utf-8")))
    return out


class LockHeld(RuntimeError):
    pass


@contextmanager
def merge_lock(run_dir: Path) -> Iterator[None]:
    """Only one process merges a run directory at a time. O_CREAT|O_EXCL is atomic on local and
    network file systems alike (flock is not reliable on NFS / Lustre). A merge is idempotent,
    so a second job that finds the lock free after the first released it only rewrites the same
    files; one that finds it held raises LockHeld."""
    path = run_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        holder = path.read_text(encoding="utf-8", errors="replace").strip() if path.exists() else "?"
        raise LockHeld(f"{path} is held ({holder}): another job is merging this run. If none is "
                       f"(it was killed), delete the lock and run `python -m evalkit.merge {run_dir}`") from None
    try:
        os.write(fd, f"host {socket.gethostname()} pid {os.getpid()}\n".encode())
        os.close(fd)
        yield
    finally:
        path.unlink(missing_ok=True)
