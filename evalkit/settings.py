"""One definition of which run settings change answers, read by resume (refuse to mix answers of
different settings in one run directory) and by reports (label runs by what sets them apart).

A run config splits into:
- execution keys: how a run executes or is stored (batch size, workers, output folder, which
  shard of the items a job runs, ...); batching and sharding are answer-preserving, so these
  never count (the shards of one run share its directory);
- speed-only model keys (the feature cache: answers are identical, tested);
- the decoding method's own answer keys (its class declares them; e.g. yesno_logits has none),
  and the seed only where the method's class says it samples;
- labels and the item set (model.name, limit, device): they tell runs apart in a report, but a
  resumed run may change them (limit only changes which items run; device only where to).
Run configs written before decoding methods were classes say `decoding.mode: <name>`; they are
read as the class of that name, so old and new runs compare and old run directories resume.
"""

from __future__ import annotations

import copy
import sys
from typing import Optional

EXECUTION_KEYS = frozenset({"output_dir", "run_name", "batch_size", "progress", "num_workers", "results_root",
                            "resume", "sort_by_length", "num_prompt_samples", "hydra", "shard",
                            # where files are found (dataset.path holds it) and the table a run is a cell of
                            "data_root", "suite"})
# A served engine's plumbing (where the server is, how many requests fly, timeouts) never changes an
# answer; its kind, model and server arguments may (docs/engines.md measures by how much).
SPEED_ONLY = {"model": ("feature_cache",),
              "engine": ("python", "base_url", "api_key_env", "concurrency", "gpu_memory_utilization",
                         "startup_timeout_s", "request_timeout_s", "check_prompt")}
# Keys that describe a run in reports but do not change any item's answer (see the docstring).
NOT_ANSWER = {"": ("limit", "device"), "model": ("name",)}
LEGACY_MODES = {"greedy": "evalkit.decoding.greedy.Greedy", "sample": "evalkit.decoding.sample.Sample",
                "yesno_logits": "evalkit.decoding.yesno_logits.YesNoLogits"}


def upgrade(cfg: dict) -> dict:
    """A copy of a run config with a pre-class `decoding.mode` read as its method's `_target_` + name."""
    cfg = copy.deepcopy(dict(cfg))
    decoding = cfg.get("decoding")
    if isinstance(decoding, dict) and "_target_" not in decoding and decoding.get("mode") in LEGACY_MODES:
        mode = decoding.pop("mode")
        cfg["decoding"] = {"_target_": LEGACY_MODES[mode], "name": mode, **decoding}
    return cfg


def method_of(decoding: Optional[dict]):
    """The DecodingMethod class a run's decoding node names; None when it cannot be imported here."""
    from evalkit.decoding.base import method_class
    from evalkit.errors import ConfigError

    if not isinstance(decoding, dict) or not decoding.get("_target_"):
        return None
    from evalkit import trust

    module = str(decoding["_target_"]).rpartition(".")[0]
    if not (trust.is_trusted(decoding["_target_"]) or module in sys.modules):
        return None  # a run directory's config never makes evalkit import code (evalkit.trust)
    try:
        return method_class(decoding["_target_"])
    except ConfigError:
        return None


def samples(decoding: Optional[dict]) -> bool:
    """Whether the seed changes this run's answers: the method's class says; an unknown class
    counts as sampling, so its seed is never hidden."""
    cls = method_of(decoding)
    return bool(decoding) and (cls is None or cls.samples)


def described(cfg: dict) -> dict:
    """The settings that tell runs apart (reports): everything but execution and speed-only keys,
    the decoding node cut to the method's answer keys, and the seed only where the method samples."""
    cfg = upgrade(cfg)
    out = {k: v for k, v in cfg.items() if k not in EXECUTION_KEYS}
    if not isinstance(out.get("engine"), dict) or out["engine"].get("kind") == "hf":
        out.pop("engine", None)  # engine=hf is the run without an engine node (configs before engines)
    for section, keys in SPEED_ONLY.items():
        if isinstance(out.get(section), dict):
            out[section] = {k: v for k, v in out[section].items() if k not in keys}
    decoding = out.get("decoding")
    cls = method_of(decoding)
    if cls is not None:  # an unknown class keeps every key: none can be ruled out
        out["decoding"] = {k: v for k, v in decoding.items() if k in ("_target_", "name", *cls.answer_keys)}
    if not samples(decoding):
        out.pop("seed", None)
    return out


def answer_config(cfg: dict) -> dict:
    """The settings a resumed run must match exactly: `described` less labels and the item set."""
    out = described(cfg)
    for section, keys in NOT_ANSWER.items():
        node = out if not section else out.get(section)
        if isinstance(node, dict):
            for key in keys:
                node.pop(key, None)
    if isinstance(out.get("decoding"), dict):
        out["decoding"].pop("name", None)  # a label; the class and its answer keys decide
    return out
