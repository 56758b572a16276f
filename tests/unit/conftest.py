"""The unit tier builds no model and starts no process: this guard makes that a checked rule, not a
convention. A test that needs either belongs in tests/integration (same fixtures, same tier of
`python -m pytest`, but a folder that says what it costs)."""

from __future__ import annotations

import multiprocessing
import subprocess

import pytest


class TierError(AssertionError):
    pass


@pytest.fixture(autouse=True)
def unit_tier_guard(monkeypatch):
    from transformers import PreTrainedModel

    def no_model(self, *args, **kwargs):
        raise TierError("a unit test built a model: move it to tests/integration")

    def no_process(*args, **kwargs):
        raise TierError("a unit test started a process: move it to tests/integration")

    monkeypatch.setattr(PreTrainedModel, "__init__", no_model)
    monkeypatch.setattr(subprocess.Popen, "__init__", no_process)
    monkeypatch.setattr(multiprocessing.Process, "start", no_process)
    yield
