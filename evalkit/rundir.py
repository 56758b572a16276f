"""What a run directory guarantees: its path stays under the results root, one process writes it
at a time, and duplicated items (two writers before the lock existed) can be repaired.

- `check_names`: `model.name`, `dataset.name` and `run_name` become path parts of the default run
  directory; a separator or `..` in one is refused before anything is written.
- `RunLock`: an exclusive lock file in the run directory (created with O_CREAT|O_EXCL, which is
  atomic on local and network file systems alike), holding host, pid and start time. A second run
  fails at once naming the holder; a lock left by a dead process on this host (kill -9) is taken
  over; one from another host is reported, since its process cannot be checked from here. Each
  shard job of a sharded run locks its own part (`shards/shard<I>of<N>.lock`): shard jobs share
  the directory by design, two copies of one shard job do not.
- `repair_duplicates`: every item's first row kept, later copies dropped (`python -m evalkit.merge --repair`).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Optional

from evalkit.errors import EvalkitError
from evalkit.fileio import read_jsonl, write_jsonl_atomic

LOCK_NAME = "run.lock"


class RunDirError(EvalkitError):
    pass


class RunLocked(RunDirError):
    pass


def check_name(key: str, value: Optional[str]) -> None:
    """A name that becomes one path component: no separator, no `..`, not empty."""
    if value is None:
        return
    text = str(value)
    if (not text.strip() or text in (".", "..") or "/" in text or "\\" in text or os.sep in text
            or (os.altsep and os.altsep in text) or ".." in text.split("/") or "\0" in text):
        raise RunDirError(f"{key}={text!r}: names of run directories may not be empty, contain a path "
                          "separator or be '..' (they become folder names under results_root); "
                          "use output_dir=PATH to choose the folder itself")


def check_names(model_name: Optional[str], dataset_name: Optional[str], run_name: Optional[str]) -> None:
    check_name("model.name", model_name)
    check_name("dataset.name", dataset_name)
    check_name("run_name", run_name)


def _start_time(pid: int) -> Optional[str]:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]


def _alive(pid: int, started: Optional[str]) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    now = _start_time(pid)
    return started is None or now is None or now == started


def _parse(text: str) -> dict:
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return fields


class RunLock:
    """`with RunLock(run_dir):` — this process is the only writer of run_dir (or of its part)."""

    def __init__(self, run_dir: Path, name: str = LOCK_NAME):
        self.path = Path(run_dir) / name
        self._held = False

    def _content(self) -> str:
        pid = os.getpid()
        return (f"host={socket.gethostname()}\npid={pid}\nstarted={_start_time(pid) or ''}\n"
                f"time={time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n")

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            except OSError as exc:
                raise RunDirError(f"{self.path}: cannot create the run lock ({exc.strerror or exc})") from None
            with os.fdopen(fd, "w") as handle:
                handle.write(self._content())
            self._held = True
            return self
        raise RunLocked(f"{self.path}: could not take the run lock (another run keeps taking it)")

    def _take_over_if_stale(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return  # released meanwhile: try again
        holder = _parse(text)
        host, pid = holder.get("host", "?"), holder.get("pid", "?")
        described = f"host {host}, pid {pid}, since {holder.get('time', '?')}"
        if host != socket.gethostname():
            raise RunLocked(f"{self.path.parent} is being written by another run ({described}); a run "
                            "directory has one writer. If that run is no longer running, delete "
                            f"{self.path} and start again")
        if pid.isdigit() and _alive(int(pid), holder.get("started") or None):
            raise RunLocked(f"{self.path.parent} is being written by another run ({described}); a run "
                            "directory has one writer: wait for it, or use another output_dir")
        # A dead process on this host left it (kill -9): take it over, atomically — a rename moves
        # exactly one file, so of two processes taking over, only one moves the stale lock.
        aside = self.path.with_name(f".{self.path.name}.stale.{os.getpid()}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        if aside.read_text(encoding="utf-8", errors="replace") != text:  # another process's fresh lock
            os.rename(aside, self.path)
            raise RunLocked(f"{self.path.parent} is being written by another run; use another output_dir")
        aside.unlink(missing_ok=True)

    def release(self) -> None:
        if self._held:
            self._held = False
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


STARTED_FILES = frozenset({"config.yaml", "weights.json", LOCK_NAME})


def remove_if_unused(run_dir: Path) -> bool:
    """Remove a run directory this run created that holds nothing but what starting it wrote
    (a model that failed to load leaves no orphan directory); True if removed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or any(p.name not in STARTED_FILES for p in run_dir.iterdir()):
        return False
    for path in run_dir.iterdir():
        path.unlink(missing_ok=True)
    run_dir.rmdir()
    return True


def repair_duplicates(shard_dir: Path) -> int:
    """Keep the first row of every item across the shard files (in file order), drop later
    copies; returns how many were dropped."""
    seen: set[str] = set()
    dropped = 0
    for path in sorted(Path(shard_dir).glob("*.jsonl")):
        rows = read_jsonl(path)
        kept = []
        for row in rows:
            if row["id"] in seen:
                dropped += 1
                continue
            seen.add(row["id"])
            kept.append(row)
        if len(kept) != len(rows):
            write_jsonl_atomic(path, kept)
    return dropped
