"""Sharded runs and resume: 2 CPU processes (gloo) equal 1 process item for item; a SIGKILLed run
resumed with a different number of processes ends with the same predictions, every item once, and
no finished item generated again; settings that change answers cannot be resumed into."""

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


def _launch(args: list[str], nproc: int, cwd: Path) -> subprocess.Popen:
    prefix = [sys.executable, "-m", "evalkit"] if nproc == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "-m", "evalkit"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(prefix + args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(args, nproc, cwd) -> subprocess.CompletedProcess:
    proc = _launch(args, nproc, cwd)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _predictions(run_dir: Path) -> dict[str, str]:
    rows = read_jsonl(run_dir / "predictions.jsonl")
    assert len(rows) == len({r["id"] for r in rows})
    return {r["id"]: r["prediction"] for r in rows}


@pytest.fixture(scope="module")
def reference(tiny_checkpoints, yesno_file, tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("ref") / "run"
    _run(_args(tiny_checkpoints["llava16"], yesno_file, out, "batch_size=1"), 1, out.parent)
    return _predictions(out)


def test_two_processes_equal_one(reference, tiny_checkpoints, yesno_file, tmp_path):
    out = tmp_path / "run"
    _run(_args(tiny_checkpoints["llava16"], yesno_file, out, "batch_size=4"), 2, tmp_path)
    assert _predictions(out) == reference
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_processes"] == 2
    assert sorted(r["n_items"] for r in summary["per_rank"]) == [8, 8]
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["rank0.jsonl", "rank1.jsonl"]


@pytest.mark.slow  # 25 s on CI's 2 cores: the default tier stays under 10 minutes
def test_kill_then_resume_with_other_world_size(reference, tiny_checkpoints, yesno_file, tmp_path):
    out = tmp_path / "run"
    shard = out / "shards" / "rank0.jsonl"
    proc = _launch(_args(tiny_checkpoints["llava16"], yesno_file, out, "batch_size=1"), 1, tmp_path)
    deadline = time.time() + 300
    while time.time() < deadline:  # kill -9 once a few batches are on disk, well before the end
        if shard.exists() and len(shard.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "predictions.jsonl").exists()
    # Simulate the worst moment of a kill: half a line written.
    with open(shard, "a") as handle:
        handle.write('{"id": "q7b", "prediction": "tor')
    done_before = {r["id"] for r in read_jsonl(shard)}
    assert 3 <= len(done_before) < len(reference)

    _run(_args(tiny_checkpoints["llava16"], yesno_file, out, "batch_size=3"), 2, tmp_path)
    assert _predictions(out) == reference
    summary = json.loads((out / "summary.json").read_text())
    # Only the unfinished items were generated again, split over the two new ranks.
    assert summary["n_resumed"] == len(done_before)
    assert summary["n_generated_this_session"] == len(reference) - len(done_before)
    generated_now = sum(len(read_jsonl(p)) for p in (out / "shards").glob("*.jsonl")) - len(done_before)
    assert generated_now == len(reference) - len(done_before)

    # A third run finds nothing to do and changes nothing.
    _run(_args(tiny_checkpoints["llava16"], yesno_file, out), 1, tmp_path)
    assert _predictions(out) == reference
    assert json.loads((out / "summary.json").read_text())["n_generated_this_session"] == 0


@pytest.mark.slow  # 24 s on CI's 2 cores: the default tier stays under 10 minutes
def test_resume_refuses_answer_changing_settings(tiny_checkpoints, yesno_file, tmp_path):
    out = tmp_path / "run"
    _run(_args(tiny_checkpoints["llava16"], yesno_file, out, "limit=4"), 1, tmp_path)
    proc = _launch(_args(tiny_checkpoints["llava16"], yesno_file, out, "limit=4", "decoding.max_new_tokens=9",
                         "model.vision_feature_layer=-1"), 1, tmp_path)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2
    assert "refusing to resume" in err
    assert "decoding.max_new_tokens: 4 -> 9" in err and "model.vision_feature_layer: None -> -1" in err
    # Batch size and limit do not change answers: allowed, and the 4 finished items are kept.
    result = _run(_args(tiny_checkpoints["llava16"], yesno_file, out, "batch_size=2", "limit=6"), 1, tmp_path)
    assert "(4 resumed)" in result.stdout
