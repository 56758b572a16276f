"""lmms-eval's per-sample logs (`--log_samples`: doc_id, doc, resps / filtered_resps), read for the
multiple-choice benchmarks' own imports: each turns a log's `doc` into its own ground truth."""

from __future__ import annotations

from typing import Any, Optional, Sequence


def _first_text(value: Any) -> Optional[str]:
    """lmms-eval keeps responses as [[text]] (resps) or [text] (filtered_resps)."""
    while isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def lmms_samples(records: Any) -> Optional[list[tuple[str, dict, Optional[str]]]]:
    """[(doc_id, doc, answer text)] when `records` are lmms-eval sample rows, else None."""
    if not isinstance(records, list) or not records:
        return None
    if not all(isinstance(r, dict) and "doc_id" in r and isinstance(r.get("doc"), dict) for r in records):
        return None
    return [(str(r["doc_id"]), r["doc"], _first_text(r.get("filtered_resps")) or _first_text(r.get("resps")))
            for r in records]


def doc_field(doc: dict, key: str, where: str, error: type) -> Any:
    if key not in doc:
        raise error(f"{where}: the lmms-eval doc has no {key!r} (found {sorted(doc)[:12]})")
    return doc[key]


def docs_of(samples: Sequence[tuple[str, dict, Optional[str]]]) -> list[dict]:
    return [doc for _, doc, _ in samples]
