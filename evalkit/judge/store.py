"""Judgments in the run directory, and the one place they are joined onto prediction rows.

`judgments-<name>.jsonl`: the first line is the judge's header (its settings: kind, model,
temperature, max_tokens, seed, runs, where it is served, prompt versions, date), then one line per
reply, appended and fsynced as it arrives: the request body, the reply text, the model id the server
reported, token counts. A reply is found by its key, a hash of the exact request body, the item and
the grading run it belongs to, so a rerun sends no request already answered, a kill loses at most the replies in
flight (a torn last line is dropped), and rescoring reads replies without any judge.

`join` replays each item's conversation with the judge (the task's `next_ask`) through the cache
alone: the same request the judge stage would send is looked up by its key, so a judgment is used
only for the exact prompt, model answer and settings it was made for.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import pandas as pd

from evalkit.errors import EvalkitError
from evalkit.fileio import JsonlAppender, read_jsonl
from evalkit.serving.openai_client import ChatRequest
from evalkit.tasks.judged import Ask, JudgedTask

PREFIX = "judgments-"
# Header keys that change the requests: a judge name is bound to them (a different judge writes beside).
REQUEST_SETTINGS = ("kind", "model", "temperature", "max_tokens", "seed", "runs")


class JudgmentError(EvalkitError):
    pass


def judgments_path(run_dir: Path | str, name: str) -> Path:
    return Path(run_dir) / f"{PREFIX}{name}.jsonl"


def judge_names(run_dir: Path | str) -> list[str]:
    """The judges that have judged this run (by their judgments files), oldest first."""
    files = sorted(Path(run_dir).glob(f"{PREFIX}*.jsonl"), key=lambda p: p.stat().st_mtime)
    return [p.name[len(PREFIX):-len(".jsonl")] for p in files]


def request_key(request: ChatRequest, item_id: str, sample: int, repeat: int = 0) -> str:
    """The cache key of one request: the exact body, the item it judges and its grading run (two
    items whose requests happen to be identical are judged separately, as the official scripts do).
    `repeat`: how many times the same conversation already sent this exact body (MMBench re-asks
    an unreadable reply with the same prompt); each repeat is its own request."""
    key = {"body": request.body(), "id": item_id, "sample": sample}
    if repeat:  # left out for a first ask, so keys made before repeats existed stay valid
        key["repeat"] = repeat
    payload = json.dumps(key, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def build_request(ask: Ask, header: Mapping[str, Any]) -> ChatRequest:
    """The body sent for an `Ask`: the judge's model and settings; judge.max_tokens (when set)
    replaces the official value (temperatures are settled in the ask: see base_temperature)."""
    max_tokens = header.get("max_tokens")
    return ChatRequest(model=str(header["model"]), messages=ask.messages, temperature=ask.temperature,
                       max_tokens=ask.max_tokens if max_tokens is None else int(max_tokens),
                       seed=header.get("seed"), top_p=ask.top_p, extra=ask.extra)


def base_temperature(task: JudgedTask, header: Mapping[str, Any]) -> Optional[float]:
    value = header.get("temperature")
    return task.judge_temperature if value is None else float(value)


class JudgmentStore:
    def __init__(self, path: Path, header: dict, records: dict[str, dict]):
        self.path = path
        self.header = header
        self.records = records
        self._appender: Optional[JsonlAppender] = None

    @property
    def name(self) -> str:
        return str(self.header["name"])

    @classmethod
    def load(cls, run_dir: Path | str, name: str) -> "JudgmentStore":
        path = judgments_path(run_dir, name)
        if not path.is_file():
            known = judge_names(run_dir)
            raise JudgmentError(f"{run_dir}: no judgments of judge {name!r}"
                                f"{'; judged by: ' + ', '.join(known) if known else ' (not judged yet)'}")
        lines = read_jsonl(path)
        if not lines or "header" not in lines[0]:
            raise JudgmentError(f"{path}:1: no judge header line")
        records = {}
        for n, record in enumerate(lines[1:], start=2):
            if "key" not in record or "reply" not in record:
                raise JudgmentError(f"{path}:{n}: a judgment needs 'key' and 'reply'")
            records[record["key"]] = record
        return cls(path, lines[0]["header"], records)

    @classmethod
    def open(cls, run_dir: Path | str, header: dict) -> "JudgmentStore":
        """Resume this judge's file (its request settings must match) or start it."""
        path = judgments_path(run_dir, header["name"])
        if path.is_file():
            store = cls.load(run_dir, header["name"])
            changed = [f"{k}: {store.header.get(k)!r} -> {header.get(k)!r}" for k in REQUEST_SETTINGS
                       if store.header.get(k) != header.get(k)]
            if changed:
                raise JudgmentError(f"{path} holds judge {header['name']!r} with other settings ({'; '.join(changed)}); "
                                    "give this judge its own judge.name=... (it writes beside the first)")
            return store
        store = cls(path, header, {})
        store._writer().write([{"header": header}])
        return store

    def get(self, key: str) -> Optional[dict]:
        return self.records.get(key)

    def append(self, records: Iterable[dict]) -> None:
        records = list(records)
        self._writer().write(records)
        for record in records:
            self.records[record["key"]] = record

    def close(self) -> None:
        if self._appender is not None:
            self._appender.close()
            self._appender = None

    def _writer(self) -> JsonlAppender:
        if self._appender is None:
            self._appender = JsonlAppender(self.path)
        return self._appender

    def token_counts(self) -> dict[str, int]:
        return {"n_requests": len(self.records),
                "prompt_tokens": sum(int(r.get("prompt_tokens") or 0) for r in self.records.values()),
                "completion_tokens": sum(int(r.get("completion_tokens") or 0) for r in self.records.values())}

    def reported_models(self) -> list[str]:
        return sorted({str(r["model"]) for r in self.records.values() if r.get("model")})


# ------------------------------------------------------------------------------------- the join

def replay(task: JudgedTask, row: Mapping[str, Any], sample: int, header: Mapping[str, Any],
           lookup: Callable[[str], Optional[dict]]) -> tuple[list[str], Optional[tuple[ChatRequest, str, int]]]:
    """An item's conversation with the judge as far as the cache answers it: (replies, None) when
    finished, or (replies so far, (the next request, its key, its attempt number)) when not."""
    replies: list[str] = []
    sent: list[dict] = []  # the bodies asked so far in this conversation
    temperature = base_temperature(task, header)
    while True:
        try:
            ask = task.next_ask(row, replies, temperature)
        except KeyError as exc:  # e.g. rows imported from another tool, without the benchmark's meta
            raise JudgmentError(f"item {row.get('id')!r}: its prediction row lacks {exc} in meta, which the "
                                f"{task.name} judge request needs (evaluate with python -m evalkit, whose rows "
                                "carry it)") from None
        if ask is None:
            return replies, None
        request = build_request(ask, header)
        key = request_key(request, str(row["id"]), sample, sent.count(request.body()))
        sent.append(request.body())
        record = lookup(key)
        if record is None:
            return replies, (request, key, len(replies))
        replies.append(str(record["reply"]))


def judged_rows(frame: pd.DataFrame, task: JudgedTask) -> list[tuple[Any, dict]]:
    """(index, row as a dict) of the rows a judge rates: this task's rows without a generation error."""
    mine = frame[frame["task"] == task.name]
    context = task.judge_context(mine) if len(mine) else {}
    out = []
    for index, row in zip(mine.index, mine.to_dict("records")):
        if not row.get("error"):
            row["meta"] = row.get("meta") if isinstance(row.get("meta"), Mapping) else {}
            row["judge_context"] = context.get(str(row["id"]), {})
            out.append((index, row))
    return out


def join(frame: pd.DataFrame, tasks: Sequence[Any], store: Optional[JudgmentStore]) -> pd.DataFrame:
    """The prediction rows with each judged task's ratings from `store` (None: no judge yet, every
    row unjudged): columns judge_ratings / judge_parsed / judge_extra (one entry per grading run)
    and judge (the judge's name)."""
    judged = [t for t in tasks if isinstance(t, JudgedTask)]
    if not judged:
        return frame
    frame = frame.copy()
    runs = int(store.header.get("runs", 1)) if store is not None else 1
    empty = [None] * runs
    for column, value in (("judge_ratings", empty), ("judge_parsed", empty), ("judge_extra", [{}] * runs)):
        frame[column] = pd.Series([list(value) for _ in range(len(frame))], index=frame.index, dtype=object)
    frame["judge"] = store.name if store is not None else None
    if store is None:
        return frame
    for task in judged:
        for index, row in judged_rows(frame, task):
            ratings, parsed, extra = [], [], []
            for sample in range(runs):
                replies, missing = replay(task, row, sample, store.header, store.get)
                rating = task.rate(row, replies) if missing is None else None
                ratings.append(None if rating is None else rating.value)
                parsed.append(None if rating is None else rating.parsed)
                extra.append({} if rating is None else dict(rating.extra))
            frame.at[index, "judge_ratings"] = ratings
            frame.at[index, "judge_parsed"] = parsed
            frame.at[index, "judge_extra"] = extra
    return frame
