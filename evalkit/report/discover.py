"""Find run directories and describe each run by the config values that set it apart.

A run directory is a folder holding `config.yaml` and `predictions.jsonl` (results/README.md), or
predictions imported with `python -m evalkit.score --benchmark` (its summary.json names the source).
PATHs may be run directories, Hydra multirun sweep folders or any parent folder: they are searched
recursively. Runs are named by the flattened config keys whose values differ between them
(`model.name=llava16, vision_feature_layer=-2`), never by folder names; keys that cannot change an
answer (batch size, output folder, progress bar, feature cache, a seed greedy ignores, ...) are
left out, as evalkit.settings defines them.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import pandas as pd
import yaml

from evalkit.benchmark import Benchmark

from evalkit.registry import benchmark_of_run
from evalkit.errors import EvalkitError
from evalkit.scoring.scorer import Scores, read_predictions, score_predictions
from evalkit.settings import EXECUTION_KEYS, described

CONFIG, PREDICTIONS, SUMMARY, METRICS = "config.yaml", "predictions.jsonl", "summary.json", "metrics.csv"

# Top-level keys that steer how a run is executed or stored, never what the model answers; what
# else is left out of labels (speed-only keys, a seed the method ignores) is evalkit.settings'.
IGNORED_KEYS = EXECUTION_KEYS
# The pseudo-key holding the parse rule a run was (re)scored with: it changes every number.
RULE_KEY = "scoring.rule"
# Keys that describe the option a name already picks: left out of labels when the name decides them.
ALIASES = {"model.path": "model.name", "model.family": "model.name", "model.revision": "model.name"}
_KEY_ORDER = ("model.name", "dataset.name", "model", "dataset", "decoding", "scoring", "source")


class ReportError(EvalkitError):
    pass


@dataclass
class Run:
    """One run directory: its config (nested and flattened), summary and lazily re-scored rows."""

    path: Path
    config: dict
    summary: dict = field(default_factory=dict)
    label: str = ""  # set by `describe_runs`

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def dataset(self) -> str:
        return str((self.config.get("dataset") or {}).get("name", "?"))

    @property
    def rule(self) -> Optional[str]:
        """The parse rule of the stored scores (None: each task's official rule)."""
        rule = (self.summary.get("metrics") or {}).get("rule", "official")
        return None if rule in (None, "official") else rule

    @cached_property
    def flat(self) -> dict[str, str]:
        flat = flatten(described(self.config))
        flat[RULE_KEY] = self.rule or "official"
        return flat

    @cached_property
    def benchmark(self) -> type[Benchmark]:
        """The run's benchmark class (from config.yaml, or the imported source's name)."""
        return benchmark_of_run(self.path)

    @cached_property
    def scores(self) -> Scores:
        """predictions.jsonl re-scored under the run's own rule (what metrics.csv holds)."""
        from evalkit.judge.stage import scoring_judge

        return score_predictions(read_predictions(self.path / PREDICTIONS), self.benchmark, rule=self.rule,
                                 judgments=scoring_judge(self.path))

    @property
    def headline(self) -> dict[str, Any]:
        stored = self.summary.get("metrics")
        return stored if stored else self.scores.headline

    @cached_property
    def category_metrics(self) -> pd.DataFrame:
        """metrics.csv (rescored from predictions when it is missing)."""
        path = self.path / METRICS
        if path.is_file():
            return pd.read_csv(path, keep_default_na=True, dtype={"category": str}).fillna({"category": ""})
        return self.scores.metrics


def is_run_dir(path: Path) -> bool:
    """config.yaml + predictions.jsonl; or predictions imported by `python -m evalkit.score
    --benchmark` (no config: summary.json names the source file instead)."""
    if not (path / PREDICTIONS).is_file():
        return False
    return (path / CONFIG).is_file() or _imported_source(path) is not None


def _imported_source(path: Path) -> Optional[dict]:
    try:
        source = json.loads((path / SUMMARY).read_text(encoding="utf-8")).get("source")
    except (OSError, ValueError, AttributeError):
        return None
    return source if isinstance(source, dict) else None


def find_run_dirs(paths: Sequence[Path | str]) -> list[Path]:
    """Run directories under `paths` (each path itself or any folder below it), sorted, unique."""
    found: dict[Path, None] = {}
    incomplete: list[Path] = []
    for raw in paths:
        root = Path(raw)
        if not root.exists():
            raise ReportError(f"{root}: no such file or directory")
        if root.is_file():
            root = root.parent  # a config.yaml or predictions.jsonl names its run directory
        for folder, dirs, _files in os.walk(root):
            here = Path(folder)
            if is_run_dir(here):
                found[here.resolve()] = None
                dirs[:] = []  # a run directory holds no other runs (shards/ are its own)
                continue
            if (here / CONFIG).is_file():
                incomplete.append(here)
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    for path in incomplete:
        warnings.warn(f"{path}: has {CONFIG} but no {PREDICTIONS} (unfinished run?); skipped", RuntimeWarning,
                      stacklevel=2)
    if not found:
        raise ReportError(f"no run directories (a folder with {CONFIG} and {PREDICTIONS}) under "
                          f"{', '.join(str(p) for p in paths)}")
    return sorted(found)


def load_run(path: Path) -> Run:
    path = Path(path)
    if not is_run_dir(path):
        raise ReportError(f"{path}: not a run directory (needs {CONFIG} and {PREDICTIONS})")
    if not (path / CONFIG).is_file():  # imported predictions: described by their source
        source = _imported_source(path) or {}
        config = {"dataset": {"name": source.get("benchmark", "?")}, "source": source}
        return Run(path=path, config=config, summary=json.loads((path / SUMMARY).read_text(encoding="utf-8")))
    try:
        config = yaml.safe_load((path / CONFIG).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ReportError(f"{path / CONFIG}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise ReportError(f"{path / CONFIG}: expected a mapping of config keys")
    summary_path = path / SUMMARY
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    return Run(path=path, config=config, summary=summary)


def load_runs(paths: Sequence[Path | str]) -> list[Run]:
    runs = [load_run(p) for p in find_run_dirs(paths)]
    describe_runs(runs)
    return runs


# -------------------------------------------------------------------------------------- describing

def canonical(value: Any) -> str:
    """One string per config value, so values compare and print the same way everywhere."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value).replace("\n", "\\n")


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """{'model': {'name': 'x'}} -> {'model.name': 'x'}; lists stay whole values; ignored keys dropped."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        if not prefix and key in IGNORED_KEYS:
            continue
        if str(key) == "_target_" and prefix:  # the class is implied by the option (dataset.name, family)
            continue
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = canonical(value)
    return flat


def _relevant(runs: Sequence[Run]) -> list[dict[str, str]]:
    # The seed is already gone from runs whose method does not sample (evalkit.settings.described).
    return [dict(run.flat) for run in runs]


def varying_keys(runs: Sequence[Run]) -> list[str]:
    """Flattened keys whose value differs between runs (a missing key counts as a value)."""
    flats = _relevant(runs)
    keys: dict[str, None] = {}
    for flat in flats:
        keys.update(dict.fromkeys(flat))
    varying = [k for k in keys if len({flat.get(k, "—") for flat in flats}) > 1]
    return sorted(varying, key=lambda k: (_rank(k), list(keys).index(k)))


def _rank(key: str) -> int:
    for i, prefix in enumerate(_KEY_ORDER):
        if key == prefix or key.startswith(prefix + "."):
            return i
    return len(_KEY_ORDER)


def label_keys(runs: Sequence[Run], keys: Iterable[str]) -> list[str]:
    """The keys that name runs: `keys` less those that only restate a config option's name
    (model.path and model.family follow model.name). Other keys stay even when they change in step
    with the name: a confound is something the reader must see."""
    keys = list(keys)
    kept = []
    for key in keys:
        owner = ALIASES.get(key)
        if owner in keys and _determined_by([r.flat.get(key, "—") for r in runs], [r.flat.get(owner, "—") for r in runs]):
            continue
        kept.append(key)
    return kept


def _determined_by(values: Sequence[str], by: Sequence[str]) -> bool:
    """Each value of `by` comes with a single value of `values`."""
    return len(set(zip(by, values))) == len(set(by))


def short_names(keys: Sequence[str]) -> dict[str, str]:
    """model.vision_feature_layer -> vision_feature_layer, unless two keys share that tail."""
    tails = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (t if tails.count(t) == 1 else k) for k, t in zip(keys, tails)}


def describe_runs(runs: Sequence[Run], width: int = 40) -> list[str]:
    """Label every run by its differing config values; returns the keys used in the labels."""
    keys = label_keys(runs, varying_keys(runs))
    names = short_names(keys)
    for run in runs:
        parts = []
        for key in keys:
            value = run.flat.get(key, "—")
            parts.append(f"{names[key]}={_shorten(value, width)}")
        run.label = ", ".join(parts) if parts else run.name
    _make_unique(runs)
    return keys


def _shorten(value: str, width: int) -> str:
    """Cut long values; paths keep their end (the file name is what tells them apart)."""
    if len(value) <= width:
        return value
    return "…" + value[-(width - 1):] if "/" in value else value[:width - 1] + "…"


def _make_unique(runs: Sequence[Run]) -> None:
    """Repeated configs share a label: tell them apart by folder (then by path)."""
    for attribute in ("name", "path"):
        labels = [run.label for run in runs]
        clashes = {label for label in labels if labels.count(label) > 1}
        for run in runs:
            if run.label in clashes:
                base = run.label.split(" [", 1)[0]
                run.label = f"{base} [{getattr(run, attribute)}]"
