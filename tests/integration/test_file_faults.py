"""File-system faults end as one line naming the file and the cause (exit 2, no traceback), and
the run stays resumable: a damaged shard line, a folder that cannot be written, a full disk."""

from __future__ import annotations

import errno
import json
import os

import pytest
from hydra import compose, initialize_config_dir

from evalkit import fileio, outputs
from evalkit.__main__ import one_line
from evalkit.config import conf_dir
from evalkit.registry import register_configs
from evalkit.errors import EvalkitError
from evalkit.pipeline import run


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))


def _cfg(ckpt, data, out, *extra):
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        return compose(config_name="config", overrides=[
            "model=tiny_llava15", f"model.path={ckpt}", "dataset=yesno", f"dataset.path={data}", f"output_dir={out}",
            "decoding.max_new_tokens=2", "device=cpu", "progress=false", "num_workers=0", "batch_size=2", *extra])


def test_a_garbage_line_in_a_shard_names_the_file_and_line(tiny_checkpoints, yesno_file, tmp_path):
    out = tmp_path / "run"
    run(_cfg(tiny_checkpoints["llava15"], yesno_file, out, "limit=4"))
    shard = out / "shards" / "rank0.jsonl"
    lines = shard.read_text().splitlines()
    shard.write_text("\n".join([lines[0], "garbage{", *lines[1:]]) + "\n")
    with pytest.raises(outputs.DamagedShard) as caught:
        run(_cfg(tiny_checkpoints["llava15"], yesno_file, out, "limit=6"))
    message = one_line(caught.value)
    assert f"{shard}:2: not valid JSON" in message and "delete that line" in message
    shard.write_text("\n".join(lines) + "\n")  # repaired as told: the run resumes
    assert run(_cfg(tiny_checkpoints["llava15"], yesno_file, out, "limit=6")) == out


def test_a_full_disk_names_the_file_meant_and_the_run_resumes(tiny_checkpoints, yesno_file, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_fsync = os.fsync
    calls = {"n": 0}

    def full_after_two(fd):
        calls["n"] += 1
        if calls["n"] > 3:  # the weight hashes, weights.json, config.yaml; then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(fileio.os, "fsync", full_after_two)
    with pytest.raises(EvalkitError) as caught:
        run(_cfg(tiny_checkpoints["llava15"], yesno_file, out, "limit=6"))
    message = one_line(caught.value)
    assert isinstance(caught.value, OSError)
    assert "No space left on device" in message and "rank0.jsonl" in message and ".tmp" not in message
    monkeypatch.setattr(fileio.os, "fsync", real_fsync)
    run(_cfg(tiny_checkpoints["llava15"], yesno_file, out, "limit=6"))  # resumes
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and len({r["id"] for r in rows}) == 6


def test_an_unwritable_file_is_named_not_its_temporary(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / ".summary.json.123.tmp"))

    monkeypatch.setattr("builtins.open", read_only)
    with pytest.raises(fileio.WriteError) as caught:
        fileio.write_atomic(target, "{}")
    assert one_line(caught.value) == f"cannot write {target}: Read-only file system"
    bare = OSError(errno.EACCES, "Permission denied", "/x/run/shards/rank0.jsonl")
    assert one_line(bare) == "/x/run/shards/rank0.jsonl: Permission denied"
