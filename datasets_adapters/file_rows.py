"""Rows of a user's dataset file (JSONL or CSV), read as written and checked, for every file
loader (yes/no; multiple-choice and VQA files use the same reader).

- Values are read as written: an id `1` is "1" (never "1.0", as a pandas column with a gap makes
  it), nothing is turned into "nan".
- A missing, null or empty required field is an error naming the file, row, id and field; an empty
  id or question is refused.
- Fields no loader reads are listed once, as a warning (a typo such as `qustion` is seen at once).
- A line (or CSV field) over `MAX_LINE_BYTES` is refused with its row number while the file is
  read, before any model loads: one 200 MB line is a broken file, not a question.
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

from evalkit.errors import DatasetError
from evalkit.fileio import JsonlError, jsonl_values

MAX_LINE_BYTES = 16 << 20  # 16 MiB: far above any question row, far below what exhausts memory


def read_rows(path: Path, required: Sequence[str], optional: Sequence[str] = ()) -> list[tuple[int, dict]]:
    """(row number, row) of a .jsonl / .json (JSON lines) or .csv file; required fields present,
    non-null and (as text) non-empty; ids as strings."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        records = list(_jsonl(path))
    elif suffix == ".csv":
        records = list(_csv(path))
    else:
        raise DatasetError(f"{path}: unsupported file type {suffix!r}; use .jsonl or .csv")
    if not records:
        raise DatasetError(f"{path}: no rows")
    out = []
    unknown: dict[str, int] = {}
    for row_no, record in records:
        if not isinstance(record, dict):
            raise DatasetError(f"{path}: row {row_no}: expected a JSON object, got {type(record).__name__}")
        item_id = as_text(record.get("id"))
        for name in required:
            value = record.get(name)
            text = as_text(value)
            if text is None or not text.strip():
                what = "missing" if name not in record else "null" if value is None else "empty"
                raise DatasetError(f"{path}: row {row_no} (id {item_id or '?'}): required field {name!r} is {what}")
            if isinstance(value, (dict, list)):
                raise DatasetError(f"{path}: row {row_no} (id {item_id}): field {name!r} must be a single value, "
                                   f"got {type(value).__name__}")
        for name in record:
            if name not in required and name not in optional:
                unknown[name] = unknown.get(name, 0) + 1
        out.append((row_no, {k: (as_text(v) if k == "id" else v) for k, v in record.items()}))
    if unknown:
        warnings.warn(f"{path}: field(s) no loader reads, ignored: "
                      f"{', '.join(f'{k} ({n} rows)' for k, n in unknown.items())}", RuntimeWarning, stacklevel=2)
    return out


def as_text(value: Any) -> str | None:
    """A value as the file wrote it: None for null; integers without a '.0'."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return repr(value)  # 1.0 stays "1.0": written as a float, read as one
    return str(value)


def optional_text(value: Any) -> str:
    """An optional field: "" for missing / null."""
    text = as_text(value)
    return "" if text is None else text


def _jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    limit = MAX_LINE_BYTES
    try:
        with open(path, "rb") as handle:
            row_no = 0
            while True:
                line = handle.readline(limit + 1)
                if not line:
                    return
                row_no += 1
                if len(line) > limit:
                    raise DatasetError(f"{path}: row {row_no}: line longer than {limit} bytes; refusing it "
                                       "(a broken file, or raise datasets_adapters.file_rows.MAX_LINE_BYTES)")
                if not line.strip():
                    continue
                try:
                    yield row_no, json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    raise DatasetError(f"{path}:{row_no}: not valid JSON ({getattr(exc, 'msg', exc)})") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _csv(path: Path) -> Iterator[tuple[int, dict]]:
    csv.field_size_limit(MAX_LINE_BYTES)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            n = 0
            try:
                for record in reader:
                    n += 1
                    # A short row's absent cells are null; an empty cell is empty (the header row is row 0).
                    yield n, {k: v for k, v in record.items() if k is not None}
            except csv.Error as exc:
                raise DatasetError(f"{path}: row {n + 1}: {exc} (over "
                                   f"{MAX_LINE_BYTES} bytes? a broken file)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc


def _json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc


def read_json(path: Path | str) -> Any:
    """A JSON document; a clear error naming the file when it is absent or broken."""
    path = Path(path).expanduser()
    return _json(_read_text(path), path)


def read_records(path: Path | str, expected: str = "a JSON object") -> list[tuple[str, dict]]:
    """(origin "file:line" / "file[i]", record) of a JSON array or a JSON-lines file of objects (an
    official question file: read once, never appended to, so a torn last line is an error);
    `expected` names what a record must be in the error for one that is not an object."""
    path = Path(path).expanduser()
    text = _read_text(path)
    if text.lstrip().startswith("["):
        pairs = [(f"{path}[{i}]", r) for i, r in enumerate(_json(text, path))]
    else:
        try:
            pairs = [(f"{path}:{n}", value) for n, value in jsonl_values(text, path, torn_tail="error")]
        except JsonlError as exc:
            raise DatasetError(str(exc)) from exc
    for origin, record in pairs:
        if not isinstance(record, dict):
            raise DatasetError(f"{origin}: expected {expected}, got {type(record).__name__}")
    return pairs
