"""Image workers never outlive the run: a kill -9 of the parent takes its DataLoader workers with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PARENT = textwrap.dedent("""
    import functools, os, sys, time
    sys.path.insert(0, {repo!r})
    from torch.utils.data import DataLoader, Dataset
    from evalkit.workers import die_with_parent

    class Slow(Dataset):
        def __len__(self):
            return 4
        def __getitem__(self, i):
            open({pidfile!r}, "w").write(str(os.getpid()))
            time.sleep(120)
            return i

    loader = DataLoader(Slow(), batch_size=None, num_workers=1, multiprocessing_context="fork",
                        worker_init_fn=functools.partial(die_with_parent, os.getpid()))
    next(iter(loader))
""")


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie waiting for init to reap it has exited


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_exit_when_their_parent_is_killed(tmp_path):
    pidfile = tmp_path / "worker.pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT.format(repo=str(REPO), pidfile=str(pidfile))])
    try:
        deadline = time.time() + 120
        while not (pidfile.exists() and pidfile.read_text()) and time.time() < deadline:
            time.sleep(0.2)
        worker = int(pidfile.read_text())
        assert _running(worker)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.time() + 15
        while _running(worker) and time.time() < deadline:
            time.sleep(0.2)
        assert not _running(worker), "the worker outlived its killed parent"
    finally:
        parent.kill()
        if pidfile.exists() and pidfile.read_text() and _running(int(pidfile.read_text())):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
