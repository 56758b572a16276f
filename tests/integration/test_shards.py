"""Shard jobs (shard.index / shard.count): 3 shards, one of them SIGKILLed and run again, merge
into predictions.jsonl and metrics.csv byte-identical to one job (batch_time_s aside); the rerun
shard generates none of its finished items again; `python -m evalkit.merge` refuses while items are
missing, naming them. Also: a 2-cell sweep through the submitit local launcher (slow tier)."""

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


def _args(ckpt: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["model=tiny_llava16", f"model.path={ckpt}", "dataset=yesno", f"dataset.path={data}",
            f"output_dir={out}", "decoding.max_new_tokens=4", "device=cpu", "progress=false", *extra]


def _launch(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evalkit", *args], cwd=cwd, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    proc = _launch(args, cwd)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _stripped(path: Path) -> str:
    """predictions.jsonl without the one timing field (it differs run to run)."""
    lines = []
    for row in read_jsonl(path):
        row.pop("batch_time_s")
        lines.append(json.dumps(row, sort_keys=True))
    return "\n".join(lines)


def _merge(run_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit.merge", str(run_dir)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow  # 52 s on CI's 2 cores: the default tier stays under 10 minutes
def test_three_shards_with_a_killed_one_equal_one_job(tiny_checkpoints, yesno_file, tmp_path):
    args = lambda out, *extra: _args(tiny_checkpoints["llava16"], yesno_file, out, "batch_size=1", *extra)
    single = tmp_path / "single"
    _run(args(single), tmp_path)
    n_items = len(read_jsonl(single / "predictions.jsonl"))

    out = tmp_path / "sharded"
    shard0 = out / "shards" / "shard0of3-rank0.jsonl"
    proc = _launch(args(out, "shard.index=0", "shard.count=3"), tmp_path)
    deadline = time.time() + 300
    while time.time() < deadline:  # kill -9 once two items of the shard's six are on disk
        if shard0.exists() and len(shard0.read_text().splitlines()) >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with open(shard0, "a") as handle:  # the worst moment of a kill: half a line written
        handle.write('{"id": "q1b", "predic')
    done_before = {r["id"] for r in read_jsonl(shard0)}
    ours = 6  # items 0, 3, ..., 15 of the 16
    assert 2 <= len(done_before) < ours

    rerun = _run(args(out, "shard.index=0", "shard.count=3"), tmp_path)
    # The requeued shard generates only what the kill lost: none of its finished items again.
    assert f"shard 0/3: {ours} items ({len(done_before)} resumed, {ours - len(done_before)} generated)" in rerun.stdout
    assert len({r["id"] for r in read_jsonl(shard0)}) == len(read_jsonl(shard0)) == ours
    assert "not predicted yet" in rerun.stdout and not (out / "predictions.jsonl").exists()

    _run(args(out, "shard.index=1", "shard.count=3"), tmp_path)
    refused = _merge(out, tmp_path)
    assert refused.returncode == 2
    missing = [r["id"] for i, r in enumerate(read_jsonl(yesno_file)) if i % 3 == 2]
    assert f"{len(missing)} of {n_items} items not predicted yet ({', '.join(missing)})" in refused.stderr

    last = _run(args(out, "shard.index=2", "shard.count=3"), tmp_path)  # the last shard merges and scores
    assert f"{n_items} items (" in last.stdout
    assert _stripped(out / "predictions.jsonl") == _stripped(single / "predictions.jsonl")
    assert (out / "metrics.csv").read_bytes() == (single / "metrics.csv").read_bytes()
    assert not (out / "merge.lock").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_items"] == n_items and summary["n_processes"] == 3

    # On demand, the merge gives the same files again.
    metrics = (out / "metrics.csv").read_bytes()
    assert _merge(out, tmp_path).returncode == 0
    assert (out / "metrics.csv").read_bytes() == metrics
    assert _stripped(out / "predictions.jsonl") == _stripped(single / "predictions.jsonl")


@pytest.mark.slow
def test_submitit_local_sweep_runs_one_job_per_cell(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    result = subprocess.run(
        [sys.executable, "-m", "evalkit", "--multirun", "hydra/launcher=local", "model=tiny_llava15,tiny_llava16",
         "limit=6", "progress=false", f"results_root={tmp_path}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    cells = sorted(tmp_path.glob("multirun/*/*/predictions.jsonl"))
    assert len(cells) == 2
    assert [len(read_jsonl(p)) for p in cells] == [6, 6]
    names = {json.loads((p.parent / "summary.json").read_text())["model"]["name"] for p in cells}
    assert names == {"tiny_llava15", "tiny_llava16"}
