"""Fingerprints of the weight files a run loads, so a resumed run never mixes answers of two
different checkpoints that share a path.

Every local directory the model config names (`model.path`, `model.base`, `model.adapter`,
`model.vision_tower`) contributes the SHA-256 of each weight file in it (`*.safetensors`, `*.bin`,
`*.pt`, `*.pth`); a hub id contributes its name, revision and, when it is in the local hub cache,
the snapshot commit it resolves to. Hashing a 7B checkpoint takes seconds, so each file's hash is
remembered by its (path, size, mtime) in `fingerprints.json` beside the conversion cache (as the
conversion cache's keys.json does): an unchanged checkpoint is not read again.

The fingerprint is written to `<run_dir>/weights.json` when a run starts and into summary.json;
resuming with a different one is refused, naming the file that changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping, Optional

from evalkit.errors import ConfigError, EvalkitError
from evalkit.fileio import update_digest, write_json_atomic

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
ROLES = ("path", "base", "adapter", "vision_tower")
FILE_NAME = "weights.json"
_HASHES: dict[str, str] = {}  # stat key -> sha256, this process


class WeightsChanged(EvalkitError):
    pass


def index_path() -> Path:
    from evalkit.models.original import default_cache_dir

    return default_cache_dir().parent / "fingerprints.json"


def looks_local(source: str) -> bool:
    """A path rather than a hub id (`org/name`): absolute, relative with ./ or ~, or more parts."""
    return source.startswith(("/", ".", "~")) or source.count("/") > 1 or os.path.exists(source)


def check_sources(model: Mapping[str, Any]) -> None:
    """A local directory the model config names must exist (before the run directory is made):
    otherwise the hub client says "Repo id must be in the form ..." about a typo in a path."""
    for role in ROLES:
        source = model.get(role)
        if source and looks_local(str(source)) and not Path(str(source)).expanduser().exists():
            raise ConfigError(f"model.{role}={source}: no such directory")


def file_hash(path: Path, index: Optional[dict] = None) -> str:
    st = path.stat()
    key = f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}"
    known = _HASHES.get(key) or (index or {}).get(key)
    if known:
        if index is not None:
            index.setdefault(key, known)  # hashed earlier in this process: the index remembers it too
        return _HASHES.setdefault(key, known)
    digest = hashlib.sha256()
    update_digest(digest, path)
    _HASHES[key] = digest.hexdigest()
    if index is not None:
        index[key] = _HASHES[key]
    return _HASHES[key]


def _hub_commit(repo: str, revision: Optional[str]) -> Optional[str]:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo, "config.json", revision=revision)
    except Exception:  # not a valid repo id, no hub client: the name alone is recorded
        return None
    return Path(found).parent.name if isinstance(found, str) else None


def fingerprint(model: Mapping[str, Any]) -> dict:
    """{role: {"source": ..., "files": {name: sha256}} or {"source", "hub", "commit"}} for every
    weight source the model config names."""
    index_file = index_path()
    index = _read(index_file)
    size_before = len(index)
    out: dict[str, dict] = {}
    for role in ROLES:
        source = model.get(role)
        if not source:
            continue
        directory = Path(str(source)).expanduser()
        if directory.is_dir():
            files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
            out[role] = {"source": str(source), "files": {p.name: file_hash(p, index) for p in files}}
        elif directory.is_file() and directory.suffix in WEIGHT_SUFFIXES:
            out[role] = {"source": str(source), "files": {directory.name: file_hash(directory, index)}}
        else:
            revision = model.get("revision") if role == "path" else None
            out[role] = {"source": str(source), "hub": True, "revision": revision,
                         "commit": _hub_commit(str(source), revision)}
    if len(index) != size_before:
        try:
            index_file.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(index_file, {**_read(index_file), **index})
        except OSError as exc:  # a read-only cache: the hashes are still right, only slower next time
            log.warning("cannot remember weight hashes in %s: %s", index_file, exc)
    return out


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What changed between two fingerprints, one entry per file (path named)."""
    diffs = []
    for role in sorted(set(old) | set(new), key=lambda r: ROLES.index(r) if r in ROLES else len(ROLES)):
        a, b = old.get(role) or {}, new.get(role) or {}
        if a.get("source") != b.get("source"):
            continue  # the config's differences name a changed source
        if a.get("hub") or b.get("hub"):
            if (a.get("commit"), a.get("revision")) != (b.get("commit"), b.get("revision")) and a.get("commit"):
                diffs.append(f"model.{role}={b.get('source')}: hub snapshot {a.get('commit')} -> {b.get('commit')}")
            continue
        fa, fb = a.get("files") or {}, b.get("files") or {}
        for name in sorted(set(fa) | set(fb)):
            where = Path(str(b.get("source") or a.get("source"))) / name
            if name not in fb:
                diffs.append(f"{where}: removed")
            elif name not in fa:
                diffs.append(f"{where}: added")
            elif fa[name] != fb[name]:
                diffs.append(f"{where}: content changed (sha256 {fa[name][:12]} -> {fb[name][:12]})")
    return diffs


def check_and_record(run_dir: Path, current: dict) -> None:
    """Refuse to resume into run_dir when its recorded weights differ from `current`; otherwise
    record `current` (a directory from before fingerprints gets one now)."""
    path = Path(run_dir) / FILE_NAME
    recorded = _read(path) if path.is_file() else None
    if recorded is not None:
        diffs = differences(recorded, current)
        if diffs:
            raise WeightsChanged(
                f"{run_dir} holds answers of other weights at the same path; refusing to resume into it "
                f"(answers of two checkpoints would be mixed). Changed: {'; '.join(diffs)}. Use another output_dir.")
        if recorded == current:
            return
    write_json_atomic(path, current)


def recorded(run_dir: Path) -> Optional[dict]:
    path = Path(run_dir) / FILE_NAME
    return _read(path) if path.is_file() else None
