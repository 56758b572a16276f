"""What a run directory guarantees (docs/running.md): fingerprinted weights (resume refuses other
weights at the same path), one writer (a lock; stale ones from dead processes taken over), names
that cannot leave results_root, and `merge --repair` for duplicated items."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from safetensors.torch import load_file, save_file

from evalkit import rundir, weights
from evalkit.config import conf_dir
from evalkit.registry import register_configs
from evalkit.errors import ConfigError
from evalkit.pipeline import run


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))  # weight hashes remembered here


def _cfg(*overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        return compose(config_name="config", overrides=list(overrides))


def _overrides(ckpt: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["model=tiny_llava15", f"model.path={ckpt}", "dataset=yesno", f"dataset.path={data}",
            f"output_dir={out}", "decoding.max_new_tokens=2", "device=cpu", "progress=false",
            "num_workers=0", "batch_size=4", *extra]


def test_resume_refuses_changed_weights_at_the_same_path(tiny_checkpoints, yesno_file, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoints["llava15"], ckpt)
    out = tmp_path / "run"
    run(_cfg(*_overrides(ckpt, yesno_file, out, "limit=4")))
    summary = json.loads((out / "summary.json").read_text())
    recorded = summary["weights"]["path"]["files"]
    assert set(recorded) == {"model.safetensors"} and len(recorded["model.safetensors"]) == 64
    assert json.loads((out / "weights.json").read_text()) == summary["weights"]

    state = load_file(ckpt / "model.safetensors")
    name = next(iter(state))
    state[name] = state[name] + 1.0  # new weights, same path, same size
    save_file(state, ckpt / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(weights.WeightsChanged, match=r"model\.safetensors: content changed"):
        run(_cfg(*_overrides(ckpt, yesno_file, out, "limit=8")))
    rows = (out / "shards" / "rank0.jsonl").read_text().splitlines()
    assert len(rows) == 4  # nothing generated with the new weights
    assert not (out / rundir.LOCK_NAME).exists()  # the refused run released its lock


def test_unchanged_weights_are_not_read_again(tiny_checkpoints, tmp_path, monkeypatch):
    first = weights.fingerprint({"path": str(tiny_checkpoints["llava15"])})
    weights._HASHES.clear()  # a new process: only the index beside the cache remembers
    monkeypatch.setattr(weights, "update_digest", lambda *a: pytest.fail("an unchanged file was hashed again"))
    assert weights.fingerprint({"path": str(tiny_checkpoints["llava15"])}) == first


def test_missing_local_model_path_says_no_such_directory(yesno_file, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="no such directory"):
        run(_cfg(*_overrides(tmp_path / "typo" / "ckpt", yesno_file, out)))
    assert not out.exists()  # no orphan run directory


@pytest.mark.parametrize("override", ["model.name=../../../escaped", "run_name=../../escaped", "run_name=a/b",
                                      "dataset.name=.."])
def test_names_cannot_leave_results_root(override, tiny_checkpoints, yesno_file, tmp_path):
    root = tmp_path / "deep" / "results"
    overrides = [o for o in _overrides(tiny_checkpoints["llava15"], yesno_file, tmp_path / "x")
                 if not o.startswith("output_dir=")]
    with pytest.raises(rundir.RunDirError, match="path separator"):
        run(_cfg(*overrides, f"results_root={root}", override))
    assert not any(tmp_path.rglob("config.yaml"))  # nothing was written anywhere


def test_second_writer_fails_at_once_naming_the_holder(tiny_checkpoints, yesno_file, tmp_path):
    out = tmp_path / "run"
    with rundir.RunLock(out):  # a live run of this process holds the directory
        with pytest.raises(rundir.RunLocked, match=f"pid {os.getpid()}"):
            run(_cfg(*_overrides(tiny_checkpoints["llava15"], yesno_file, out, "limit=2")))
    assert not (out / "shards").exists() and not (out / "config.yaml").exists()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / rundir.LOCK_NAME).write_text(f"host={socket.gethostname()}\npid={pid}\nstarted=1\ntime=t\n")
    with rundir.RunLock(tmp_path) as lock:
        assert f"pid={os.getpid()}" in lock.path.read_text()
    assert not (tmp_path / rundir.LOCK_NAME).exists()


def test_lock_of_another_host_is_reported(tmp_path):
    (tmp_path / rundir.LOCK_NAME).write_text("host=elsewhere-node-7\npid=1\nstarted=1\ntime=t\n")
    with pytest.raises(rundir.RunLocked, match="host elsewhere-node-7.*delete"):
        rundir.RunLock(tmp_path).acquire()
    assert "elsewhere-node-7" in (tmp_path / rundir.LOCK_NAME).read_text()  # left alone


def test_merge_repair_keeps_the_first_copy(tiny_checkpoints, yesno_file, tmp_path, capsys):
    from evalkit.merge import main as merge_main

    out = tmp_path / "run"
    run(_cfg(*_overrides(tiny_checkpoints["llava15"], yesno_file, out, "limit=4")))
    shard = out / "shards" / "rank0.jsonl"
    rows = [json.loads(line) for line in shard.read_text().splitlines()]
    twin = dict(rows[1], text="tampered", prediction="tampered")
    (out / "shards" / "rank1.jsonl").write_text(json.dumps(twin) + "\n")  # a second writer's copy
    assert merge_main([str(out)]) == 2
    err = capsys.readouterr().err
    assert "duplicated" in err and "--repair" in err
    assert merge_main([str(out), "--repair"]) == 0
    assert "1 duplicated" in capsys.readouterr().out
    merged = {json.loads(line)["id"]: json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()}
    assert len(merged) == 4 and merged[rows[1]["id"]]["text"] == rows[1]["text"]


def test_error_rows_are_named_at_the_end_of_a_run(tiny_checkpoints, yesno_file, tmp_path, capsys):
    rows = [json.loads(line) for line in yesno_file.read_text().splitlines()][:3]
    rows[1]["image"] = "images/missing.png"
    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps(dict(r, image=str(yesno_file.parent / r["image"]))) + "\n" for r in rows))
    out = tmp_path / "run"
    run(_cfg(*_overrides(tiny_checkpoints["llava15"], data, out)))
    printed = capsys.readouterr().out
    assert f"1 item(s) have no answer" in printed
    assert f"  {rows[1]['id']}: FileNotFoundError" in printed and str(out / "predictions.jsonl") in printed


def test_unknown_benchmark_hints_at_searchpath_and_pythonpath():
    from evalkit.__main__ import check_overrides
    from evalkit.benchmark import BenchmarkError, benchmark_class

    message = check_overrides(["dataset=my_bench"])
    assert "unknown dataset option 'my_bench'" in message and "hydra.searchpath=[file://" in message
    assert "PYTHONPATH" in message
    with pytest.raises(BenchmarkError, match="PYTHONPATH=<folder holding my_module>.*file://"):
        benchmark_class("my_module.MyBench")


def test_a_model_that_fails_to_load_leaves_no_run_directory(yesno_file, tmp_path):
    empty = tmp_path / "not_a_checkpoint"
    empty.mkdir()
    out = tmp_path / "run"
    from evalkit.items import BuildError

    with pytest.raises(BuildError, match="not_a_checkpoint"):
        run(_cfg(*_overrides(empty, yesno_file, out)))
    assert not out.exists()
