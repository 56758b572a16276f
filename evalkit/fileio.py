"""The one way evalkit reads JSON lines and writes files, so every reader treats a damaged file alike.

- `read_jsonl` / `jsonl_values`: a line over `MAX_LINE_CHARS` is refused before it is parsed; a torn last line (a kill mid-write: the writer appends whole lines,
  so only the last one can be cut) is dropped with a RuntimeWarning, or refused with
  `torn_tail="error"` for files no evalkit process appends to (datasets); a bad line anywhere
  else is always a `JsonlError` naming `file:line`.
- `JsonlAppender`: whole lines, flushed and fsynced per batch, a torn tail cut before appending.
- `write_atomic` / `write_json_atomic`: a temporary file in the same directory, then `os.replace`,
  so a reader (another rank, a report, a resumed run) sees the old file or the new one, never half.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

from evalkit.errors import EvalkitError

TornTail = Literal["drop", "error"]
# A line longer than this is refused (JsonlError naming file:line) before it is parsed: one
# 200 MB line is a broken or hostile file, and parsing it can take many times its size in memory.
MAX_LINE_CHARS = 16 << 20


class JsonlError(ValueError):
    """A JSON-lines file with a bad line; the message starts with `file:line`."""


class WriteError(EvalkitError, OSError):
    """A file evalkit could not write (read-only folder, full disk): names the file meant, not a
    temporary one, and the cause."""


def _write_error(path: Path, exc: OSError) -> WriteError:
    return WriteError(f"cannot write {path}: {exc.strerror or exc}")


def jsonl_values(text: str, source: Path | str, *, torn_tail: TornTail = "drop") -> Iterator[tuple[int, Any]]:
    """(line number, value) of every non-blank line of `text`, read from `source` (for messages)."""
    if torn_tail not in ("drop", "error"):
        raise ValueError(f"torn_tail must be 'drop' or 'error', got {torn_tail!r}")
    lines = text.splitlines()
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            raise JsonlError(f"{source}:{n + 1}: line of {len(line)} characters is over the limit of "
                             f"{MAX_LINE_CHARS} (evalkit.fileio.MAX_LINE_CHARS); refusing it")
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            if n == last and torn_tail == "drop":
                warnings.warn(f"{source}:{n + 1}: skipping torn last line (not valid JSON: {exc.msg})",
                              RuntimeWarning, stacklevel=2)
                continue
            raise JsonlError(f"{source}:{n + 1}: not valid JSON ({exc.msg})") from None
        yield n + 1, value


def read_jsonl(path: Path | str, *, torn_tail: TornTail = "drop") -> list[Any]:
    """Values of a JSON-lines file, blank lines skipped (see the module docstring for torn lines)."""
    return [value for _, value in jsonl_values(Path(path).read_text(encoding="utf-8"), path, torn_tail=torn_tail)]


def json_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) + "\n"


def cut_torn_tail(path: Path) -> None:
    """Truncate a file after its last newline: what a kill mid-append leaves behind goes."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        with open(path, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


class JsonlAppender:
    """Appends whole lines, flushed and fsynced after each `write`, so a kill loses at most the
    batch in flight; a torn last line left by an earlier kill is cut off first, so the next line
    does not glue onto it."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            cut_torn_tail(self.path)
            self._file = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise _write_error(self.path, exc) from exc

    def write(self, values: Iterable[Any]) -> None:
        try:
            self._file.write("".join(json_line(v) for v in values))
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:  # a full disk: what was written of this batch is a torn tail, cut on resume
            raise _write_error(self.path, exc) from exc

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:  # the write that failed already said why
            pass

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def update_digest(digest: Any, path: Path | str, block: int = 1 << 22) -> None:
    """Feed the bytes of the file at `path` to a hashlib `digest`, 4 MiB at a time (checkpoints and
    COCO annotation files are too large to read whole)."""
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(block), b""):
            digest.update(chunk)


def write_atomic(path: Path | str, data: str | bytes) -> None:
    """Write `data` (text as UTF-8) to `path` through a temporary file in the same directory.

    The temporary name is unique per process and call, so concurrent writers of one path (ranks,
    runs sharing a feature-cache folder) never write into each other's file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # the cause, about the file meant (not the temporary one)
        raise _write_error(path, exc) from exc
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path | str, value: Any, *, indent: int | None = 2, **dumps_options: Any) -> None:
    """`value` as JSON (one trailing newline) written with `write_atomic`; `dumps_options` go to json.dumps."""
    write_atomic(path, json.dumps(value, indent=indent, **dumps_options) + "\n")


def write_jsonl_atomic(path: Path | str, values: Iterable[Any]) -> None:
    """A whole JSON-lines file at once (a merged or imported predictions file), atomically."""
    write_atomic(path, "".join(json_line(v) for v in values))


def cache_root() -> Path:
    """evalkit's cache folder: $EVALKIT_CACHE, else $XDG_CACHE_HOME/evalkit, else ~/.cache/evalkit
    (converted checkpoints, weight fingerprints, COCO ground truth)."""
    root = os.environ.get("EVALKIT_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "evalkit")
    return Path(root).expanduser()
