"""Hydra's submitit launcher with the local executor (the SLURM path on one machine): 2 jobs x 2
tasks become 2 gloo ranks each and equal single-process runs item for item, with one process
scoring per job; a job sent submitit's time-limit signal (USR2) is checkpointed, requeued and
resumes with 0 finished items generated again. The README's "On a cluster" commands are these.
Skipped without the [cluster] extra."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit.fileio import read_jsonl

pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
psutil = pytest.importorskip("psutil")

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _evalkit(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evalkit", *args], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return out


def _predictions(run_dir: Path) -> dict[str, str]:
    rows = read_jsonl(run_dir / "predictions.jsonl")
    assert len(rows) == len({r["id"] for r in rows})
    return {r["id"]: r["prediction"] for r in rows}


def _single(tmp_path: Path, name: str, *args: str) -> dict[str, str]:
    out = tmp_path / f"single-{name}"
    _finish(_evalkit([*args, f"output_dir={out}", "progress=false"], tmp_path))
    return _predictions(out)


def _cells(root: Path) -> dict[str, Path]:
    """Sweep cells by model name: results_root/multirun/<time>/<job number>/."""
    cells = {}
    for summary in root.glob("multirun/*/*/summary.json"):
        cells[json.loads(summary.read_text())["model"]["name"]] = summary.parent
    return cells


# Default tier (about 55 s here): issue 21 asks for the 2 jobs x 2 tasks run in CI. The requeue runs
# below take minutes each and stay in the slow tier; test_shards covers a killed shard resuming.
def test_two_jobs_of_two_tasks_equal_single_processes(tmp_path):
    sweep = ["--multirun", "hydra/launcher=local", "hydra.launcher.tasks_per_node=2",
             "model=tiny_llava15,tiny_llava16", "limit=6", "progress=false", f"results_root={tmp_path}"]
    _finish(_evalkit(sweep, tmp_path))
    cells = _cells(tmp_path)
    assert sorted(cells) == ["tiny_llava15", "tiny_llava16"]
    for model, cell in cells.items():
        assert _predictions(cell) == _single(tmp_path, model, f"model={model}", "limit=6")
        summary = json.loads((cell / "summary.json").read_text())
        assert summary["n_processes"] == 2
        assert sorted(r["rank"] for r in summary["per_rank"]) == [0, 1]
        assert sorted(r["n_items"] for r in summary["per_rank"]) == [3, 3]
        assert sorted(p.name for p in (cell / "shards").iterdir()) == ["rank0.jsonl", "rank1.jsonl"]
    # Only task 0 of each job scores and prints the table; both tasks ran the job.
    logs = sorted(tmp_path.glob("multirun/*/.submitit/*/*_log.out"))
    scored = [p.name.split("_")[1] for p in logs if "items (0 resumed)" in p.read_text()]
    assert len(logs) == 4 and scored == ["0", "0"]


def _tasks(sweep: subprocess.Popen) -> list:
    """The job's task processes (what SLURM and the local controller signal on a time limit)."""
    return [p for p in psutil.Process(sweep.pid).children(recursive=True)
            if "submitit.core._submit" in " ".join(p.cmdline())]


@pytest.mark.slow
@pytest.mark.parametrize("tasks", [1, 2])
def test_job_at_its_time_limit_is_requeued_and_resumes(tmp_path, tasks):
    args = ["model=tiny_llava16", "limit=12", "batch_size=1"]
    reference = _single(tmp_path, "tiny_llava16", *args)
    # timeout_min=10: a signal now counts as the time limit (submitit: walltime past
    # min(0.8 x limit, limit - 10 min)), so the requeue spends one of max_num_timeout.
    sweep = _evalkit(["--multirun", "hydra/launcher=local", "hydra.launcher.timeout_min=10",
                      f"hydra.launcher.tasks_per_node={tasks}", *args, "progress=false", f"results_root={tmp_path}"],
                     tmp_path)
    deadline = time.time() + 300
    shard = None
    while time.time() < deadline and sweep.poll() is None:
        found = list(tmp_path.glob("multirun/*/0/shards/rank0.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= 2:
            shard = found[0]
            break
        time.sleep(0.02)
    assert shard is not None, "the job never wrote 2 predictions"
    for task in _tasks(sweep):  # what SLURM and the local controller do signal_delay_s before the limit
        task.send_signal(signal.SIGUSR2)
    _finish(sweep)

    run_dir = shard.parent.parent
    log = next(tmp_path.glob("multirun/*/.submitit/*/*_0_log.out")).read_text()
    assert "this job is timed-out" in log and "Requeued job" in log
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["n_processes"] == tasks and summary["n_resumed"] >= 2
    assert summary["n_resumed"] + summary["n_generated_this_session"] == len(reference)
    # Every item generated exactly once over both attempts: none of the finished ones again.
    rows = [row for path in sorted(shard.parent.glob("*.jsonl")) for row in read_jsonl(path)]
    assert len(rows) == len({r["id"] for r in rows}) == len(reference)
    assert _predictions(run_dir) == reference
