"""The judge stage: send every judge request a finished run still needs, cache each reply as it
arrives, then rescore the run with the judge's ratings. It runs after generation in the same command
(`python -m evalkit ... judge=openai`) or alone on a finished run (`python -m evalkit.judge`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Optional, Sequence


from evalkit.benchmark import Benchmark


from evalkit.registry import benchmark_of_run
from evalkit.errors import EvalkitError
from evalkit.fileio import write_json_atomic
from evalkit.judge.backends import judge_header, make_backend
from evalkit.judge.config import JudgeConfig
from evalkit.judge.store import JudgmentStore, judge_names, judged_rows, replay
from evalkit.tasks.judged import JudgedTask

log = logging.getLogger("evalkit")
PREDICTIONS = "predictions.jsonl"


def judged_tasks(benchmark: type[Benchmark]) -> list[JudgedTask]:
    return [t for t in benchmark.tasks if isinstance(t, JudgedTask)]


def prompt_versions(benchmark: type[Benchmark]) -> dict[str, str]:
    return {t.name: t.prompt_version() for t in judged_tasks(benchmark)}


def check_judge(cfg: JudgeConfig, benchmark: type[Benchmark], metas: Optional[Mapping[str, Sequence[Mapping]]] = None):
    """Before any generation: the benchmark must have judged tasks, what they need to score judged
    answers must be there (`metas`: each task's items' meta, by task name; Object HalBench's spaCy
    pipeline), and the judge must answer (an endpoint serving the model, or a local model that
    loads). Returns the ready backend."""
    if not judged_tasks(benchmark):
        raise EvalkitError(f"{benchmark.__name__} has no judged task; judge=... applies to judged benchmarks "
                           "(llava_bench, mmvet, mmhal, hallusionbench, mmbench, object_halbench)")
    for task in judged_tasks(benchmark):
        task.check_judge_ready(list((metas or {}).get(task.name, ())))
    backend = make_backend(cfg)
    backend.check()
    return backend


def judge_run(run_dir: Path | str, cfg: JudgeConfig, backend=None) -> JudgmentStore:
    """Judge every unjudged answer of the run in `run_dir` with `cfg`; returns the store (its name
    is the judge's). Only requests not in the cache are sent."""
    from evalkit.scoring.scorer import read_predictions

    run_dir = Path(run_dir)
    benchmark = benchmark_of_run(run_dir)
    frame = read_predictions(run_dir / PREDICTIONS)
    if "task" not in frame.columns:
        frame["task"] = benchmark.tasks[0].name
    metas = {task.name: [m if isinstance(m, Mapping) else {} for m in frame.loc[frame["task"] == task.name, "meta"]]
             for task in judged_tasks(benchmark)} if "meta" in frame.columns else {}
    if backend is None:
        backend = check_judge(cfg, benchmark, metas)
    else:  # a given backend is ready; what scoring needs is checked all the same, before anything is sent
        for task in judged_tasks(benchmark):
            task.check_judge_ready(metas.get(task.name, []))
    store = JudgmentStore.open(run_dir, judge_header(cfg, prompt_versions(benchmark)))
    try:
        rows = [(task, row) for task in judged_tasks(benchmark) for _, row in judged_rows(frame, task)]
        sent = 0
        while True:  # one round per conversation step (MM-Vet re-asks unreadable grades)
            wanted: dict[str, tuple] = {}
            for task, row in rows:
                for sample in range(cfg.runs):
                    _, missing = replay(task, row, sample, store.header, store.get)
                    if missing is not None:
                        request, key, attempt = missing
                        wanted.setdefault(key, (request, task, row, sample, attempt))
            if not wanted:
                break
            keys = list(wanted)
            log.info("judge %s: %d request(s) to send", store.name, len(keys))
            for index, reply in backend.complete_many([wanted[k][0] for k in keys]):
                request, task, row, sample, attempt = wanted[keys[index]]
                store.append([{"key": keys[index], "task": task.name, "id": str(row["id"]), "sample": sample,
                               "attempt": attempt, "request": request.body(), "reply": reply.text,
                               "model": reply.model, "prompt_tokens": reply.prompt_tokens,
                               "completion_tokens": reply.completion_tokens, "finish_reason": reply.finish_reason}])
                sent += 1
        log.info("judge %s: %d request(s) sent, %d cached", store.name, sent, len(store.records) - sent)
    finally:
        store.close()
    return store


def judge_summary(store: JudgmentStore) -> dict:
    """summary.json's record of a judge: settings, the model ids the server reported, tokens."""
    return {**store.header, "reported_models": store.reported_models(), **store.token_counts(),
            "file": store.path.name}


def record_judge(run_dir: Path | str, store: JudgmentStore) -> None:
    """summary.json: `judges` (every judge of the run, by name) and `judge` (the name scoring uses)."""
    import json

    path = Path(run_dir) / "summary.json"
    summary = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    summary.setdefault("judges", {})[store.name] = judge_summary(store)
    summary["judge"] = store.name
    write_json_atomic(path, summary, ensure_ascii=False)


def scoring_judge(run_dir: Path | str, name: Optional[str] = None) -> Optional[JudgmentStore]:
    """The judgments scoring uses: judge `name`, else the one summary.json names, else the only one."""
    import json

    run_dir = Path(run_dir)
    if name is None:
        path = run_dir / "summary.json"
        summary = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        name = summary.get("judge")
        names = judge_names(run_dir)
        if name is None and names:
            name = names[-1]
        if name is None:
            return None
    return JudgmentStore.load(run_dir, name)


def judges_of_summary(run_dir: Path | str) -> dict:
    """summary.json's `judges` / `judge` keys, kept when a resumed run rewrites its summary."""
    import json

    path = Path(run_dir) / "summary.json"
    summary = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return {k: summary[k] for k in ("judges", "judge") if k in summary}
