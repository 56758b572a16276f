"""Tests that read ../shared/data (beside the repository: POPE, LLaVA's answers, AMBER,
HallusionBench, OPERA's CHAIR logs) carry the `shared_data` marker and skip, naming the missing
path, where it is absent; `-rs` (pytest's addopts) lists every skip with its reason at the end of
the run, so a CI without the data says what it did not check."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def needs_shared(*relative: str):
    """A decorator: mark `shared_data`, and skip when one of SHARED_DATA/<relative> is absent."""
    missing = [SHARED_DATA / r for r in relative if not (SHARED_DATA / r).exists()]
    skip = pytest.mark.skipif(bool(missing), reason=f"needs {missing[0]} (../shared/data beside the repository)"
                              if missing else "")

    def mark(test):
        return pytest.mark.shared_data(skip(test))

    return mark
