"""Tasks of a submitit job become torch.distributed ranks: the env:// variables exported from
submitit's JobEnvironment (here the local executor's variables, as its controller sets them for
task 1 of 2), and nothing exported outside submitit, with one task, or under torchrun."""

from __future__ import annotations

import os

import pytest

from evalkit.distributed import export_submitit_ranks

pytest.importorskip("submitit")

DIST_KEYS = ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


def _local_task(monkeypatch, task: int, ntasks: int, job_id: str = "4242") -> None:
    for key in DIST_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "local")
    for key, value in {"SUBMITIT_LOCAL_JOB_ID": job_id, "SUBMITIT_LOCAL_NTASKS": str(ntasks),
                       "SUBMITIT_LOCAL_JOB_NUM_NODES": "1", "SUBMITIT_LOCAL_NODEID": "0",
                       "SUBMITIT_LOCAL_GLOBALID": str(task), "SUBMITIT_LOCAL_LOCALID": str(task)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")


def test_second_task_of_two_is_rank_one(monkeypatch):
    _local_task(monkeypatch, task=1, ntasks=2)
    assert export_submitit_ranks()
    assert {k: os.environ[k] for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")} == {
        "RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert os.environ["MASTER_ADDR"]  # the job's first host
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"  # accelerate picks cuda:<local rank> itself
    port = os.environ["MASTER_PORT"]
    _local_task(monkeypatch, task=0, ntasks=2)  # task 0 of the same job meets it on the same port
    assert export_submitit_ranks() and os.environ["MASTER_PORT"] == port and os.environ["RANK"] == "0"
    _local_task(monkeypatch, task=0, ntasks=2, job_id="977")  # another job on the node: another port
    assert export_submitit_ranks() and os.environ["MASTER_PORT"] != port


@pytest.mark.parametrize("case", ["one task", "not submitit", "torchrun inside the job"])
def test_nothing_exported(monkeypatch, case):
    _local_task(monkeypatch, task=0, ntasks=1 if case == "one task" else 2)
    if case == "not submitit":
        monkeypatch.delenv("SUBMITIT_EXECUTOR")
    if case == "torchrun inside the job":
        monkeypatch.setenv("WORLD_SIZE", "8")
        monkeypatch.setenv("RANK", "3")
    assert not export_submitit_ranks()
    assert os.environ.get("RANK") == ("3" if case == "torchrun inside the job" else None)
