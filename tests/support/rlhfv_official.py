"""RLHF-V's eval_gpt_obj_halbench.py (tests/support/rlhfv/), imported for a test the way its
__main__ runs: from its folder (it opens ./eval/data/synonyms_refine.txt), with its own
gpt4_grpc.Chat (tests/support/rlhfv/gpt4_grpc.py) calling a stand-in `openai` module: RLHF-V's
client calls `openai.ChatCompletion.create` (openai < 1.0), which today's package no longer has and
which no test may reach over a network. `create` is the test's; by default any call fails.

`spacy.load("en_core_web_trf")` runs at import (a model that cannot be installed offline): it is
stubbed to return None while the module imports; a test of the GPT path sets the module's `nlp` to
its own pipeline."""

from __future__ import annotations

import ssl
import sys
import types
from pathlib import Path
from typing import Callable, Optional

RLHFV = Path(__file__).resolve().parent / "rlhfv"


def no_gpt(**kwargs):
    raise AssertionError("the keyword path must not call GPT")


def import_official(monkeypatch, create: Optional[Callable[..., dict]] = None):
    """The eval_gpt_obj_halbench module, fresh; `create(**kwargs)` answers openai.ChatCompletion.create."""
    try:
        import spacy
    except ImportError:  # only its load() is called, at import
        spacy = types.ModuleType("spacy")
        monkeypatch.setitem(sys.modules, "spacy", spacy)
    openai = types.ModuleType("openai")
    openai.api_key = None
    openai.ChatCompletion = types.SimpleNamespace(create=create or no_gpt)
    monkeypatch.setitem(sys.modules, "openai", openai)
    monkeypatch.chdir(RLHFV)
    monkeypatch.syspath_prepend(str(RLHFV))
    for name in ("eval_gpt_obj_halbench", "gpt4_grpc"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    context = ssl._create_default_https_context  # the script turns certificate checks off at import
    load = getattr(spacy, "load", None)
    spacy.load = lambda name: None  # for the import only: evalkit's side of a test loads pipelines too
    try:
        import eval_gpt_obj_halbench as module
    finally:
        ssl._create_default_https_context = context
        if load is None:
            del spacy.load
        else:
            spacy.load = load
    return module
