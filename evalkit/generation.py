"""How many tokens a run generates: the user's `decoding.max_new_tokens` when set, else the length
the run's tasks ask for (a caption task declares `Task.max_new_tokens`, 512), else 128, LLaVA's
evaluation setting for short answers. Resolved once per run, before anything is generated, and
written into the run's config.yaml (so resume and reports see the number used) and summary.json
(`generation`: the number and who set it)."""

from __future__ import annotations

from typing import Optional, Sequence

from omegaconf import DictConfig, open_dict

from evalkit.benchmark import Benchmark
from evalkit.decoding.base import DEFAULT_MAX_NEW_TOKENS
from evalkit.types import Item


def tasks_length(benchmark: type[Benchmark], items: Sequence[Item]) -> tuple[Optional[int], list[str]]:
    """(the longest length the items' tasks declare, those tasks), or (None, []) when none does."""
    declared = {}
    for name in dict.fromkeys(item.task for item in items):
        length = getattr(benchmark.task(name), "max_new_tokens", None)
        if length:
            declared[name] = int(length)
    return (max(declared.values()), sorted(declared)) if declared else (None, [])


def resolve_max_new_tokens(cfg: DictConfig, benchmark: type[Benchmark], items: Sequence[Item]) -> Optional[dict]:
    """Fill a null `decoding.max_new_tokens` in `cfg` (methods without that setting: None)."""
    if "max_new_tokens" not in cfg.decoding:
        return None
    given = cfg.decoding.get("max_new_tokens")
    if given is not None:
        return {"max_new_tokens": int(given), "set_by": "decoding.max_new_tokens"}
    length, tasks = tasks_length(benchmark, items)
    with open_dict(cfg.decoding):
        cfg.decoding.max_new_tokens = length or DEFAULT_MAX_NEW_TOKENS
    set_by = f"the benchmark's task(s) {', '.join(tasks)}" if tasks else "evalkit's default (LLaVA's evaluation setting)"
    return {"max_new_tokens": int(cfg.decoding.max_new_tokens), "set_by": set_by}
