"""Suites: a published table's benchmarks as one Hydra multirun (conf/experiment/<name>.yaml,
`python -m evalkit --multirun +experiment=NAME model=a,b ...`).

Two rules live here, both before any model loads:
- `SuiteCheck` (a Hydra callback the experiment yaml installs) loads every column's items once, on
  the machine that starts the sweep (for hydra/launcher=slurm: before any job is submitted), and
  reports every benchmark whose files are missing in ONE list, then stops; it also prints the
  table's columns evalkit cannot run (`suite.unavailable`) and the judged columns without a judge.
- `unjudged_skip` (called by each job): a judged benchmark in a suite run without judge=... is
  skipped with one line (suite.unjudged=skip, the default) or refused (fail); it is never scored
  by a deterministic fallback, so the table shows "–" rather than a number of another kind.
"""

from __future__ import annotations

import itertools
import logging
import sys
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from evalkit.errors import ConfigError, EvalkitError
from evalkit.items import load_items, scoring_of
from evalkit.judge.stage import judged_tasks


def _needs_judge(benchmark) -> bool:
    """A benchmark whose number a judge makes (a task with an optional judge, MMBench, does not)."""
    return any(not task.judge_optional for task in judged_tasks(benchmark))

log = logging.getLogger("evalkit")

MISSING_HINT = ("fix data_root= (LLaVA's playground/data/eval layout: its docs/Evaluation.md lists each "
                "benchmark's download) or dataset.path=, or leave those columns out of the sweep "
                "(hydra.sweeper.params.dataset=...)")


def unjudged_skip(cfg: DictConfig) -> Optional[str]:
    """The line saying this suite cell is skipped (a judged benchmark, no judge); None: run it.
    Raises ConfigError where the suite says unjudged benchmarks fail."""
    suite = cfg.get("suite") or {}
    if not suite.get("name") or cfg.get("judge") is not None:
        return None
    benchmark, _rule = scoring_of(cfg.dataset)
    if not _needs_judge(benchmark):
        return None
    what = (f"suite {suite.name}: dataset {cfg.dataset.name} is judged and no judge is configured "
            "(judge=openai|hf)")
    if suite.get("unjudged", "skip") == "fail":
        raise ConfigError(f"{what}; suite.unjudged=fail refuses to run it")
    return f"{what}: skipped, its column stays empty (suite.unjudged=fail to refuse instead)"


def judge_applies(cfg: DictConfig) -> bool:
    """In a suite, judge=... is meant for its judged columns: the other columns run without it
    (outside a suite a judge on an unjudged benchmark is still refused, by check_judge)."""
    suite = cfg.get("suite") or {}
    if cfg.get("judge") is None or not suite.get("name"):
        return cfg.get("judge") is not None
    benchmark, _rule = scoring_of(cfg.dataset)
    return _needs_judge(benchmark)


def sweep_jobs(task_overrides: list[str], params: dict[str, Any]) -> list[list[str]]:
    """The override list of every job, as Hydra's basic sweeper builds them: the command line's
    overrides and the experiment's hydra.sweeper.params, sweeps expanded as a cartesian product."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    given = list(task_overrides) + [f"{k}={v}" for k, v in params.items()]
    parsed = OverridesParser.create().parse_overrides(given)
    per_key: dict[str, list[str]] = {}
    for override in parsed:
        key = override.get_key_element()
        values = [str(v) for v in override.sweep_string_iterator()] if override.is_sweep_override() \
            else [override.get_value_element_as_str()]
        per_key[key] = [f"{key}={v}" for v in values]  # a later override of a key wins, as in Hydra
    return [list(job) for job in itertools.product(*per_key.values())]


def check_suite(jobs: list[list[str]], compose) -> tuple[list[str], list[str]]:
    """(problems, notes) over the distinct dataset settings of `jobs`; `compose(overrides)` gives
    a job's config. Each dataset setting's items are loaded once (limit applied)."""
    problems: list[str] = []
    notes: list[str] = []
    seen: set[str] = set()
    for job in jobs:
        cfg = compose(job)
        key = OmegaConf.to_yaml(cfg.dataset) + f"limit={cfg.get('limit')}, judge={cfg.get('judge') is not None}"
        if key in seen:
            continue
        seen.add(key)
        label = _label(cfg)
        try:
            line = unjudged_skip(cfg)
            if line:
                notes.append(line)
                continue
            load_items(cfg.dataset, cfg.get("limit"))
        except (EvalkitError, OSError) as exc:
            problems.append(f"{label}: {_one_line(exc)}")
    return problems, notes


def _label(cfg: DictConfig) -> str:
    changed = {k: v for k, v in cfg.dataset.items() if k in ("lang", "split", "tasks", "data_types")}
    extra = ", ".join(f"{k}={OmegaConf.to_container(v) if OmegaConf.is_config(v) else v}" for k, v in changed.items())
    return f"dataset {cfg.dataset.name}" + (f" ({extra})" if extra else "")


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, EvalkitError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


try:  # Hydra's callback base class (hydra >= 1.1); the check itself needs none of it
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object


class SuiteCheck(Callback):
    """Installed by conf/experiment/*.yaml (hydra.callbacks.suite_check)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra import compose

        suite = config.get("suite") or {}
        name = suite.get("name") or "?"
        for line in suite.get("unavailable") or []:
            print(f"suite {name}: not run: {line}", file=sys.stderr)
        hydra_cfg = config.hydra
        params = OmegaConf.to_container(hydra_cfg.sweeper.get("params") or {}, resolve=False)
        jobs = sweep_jobs(list(hydra_cfg.overrides.task), params)
        problems, notes = check_suite(jobs, lambda overrides: compose(config_name="config", overrides=overrides))
        for line in notes:
            print(line, file=sys.stderr)
        if problems:
            print(f"error: suite {name}: {len(problems)} benchmark(s) cannot run; no model was loaded:", file=sys.stderr)
            for line in problems:
                print(f"  - {line}", file=sys.stderr)
            print(f"  {MISSING_HINT}", file=sys.stderr)
            sys.exit(2)
        log.info("suite %s: %d job(s), every benchmark's files found", name, len(jobs))
