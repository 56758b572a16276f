"""Reading HF datasets and their local copies (hub id, `save_to_disk` folder, parquet file/folder,
hub cache folder) as pyarrow tables with images left encoded; shared by the MME and POPE adapters."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Optional, Sequence

from evalkit.errors import DatasetError

log = logging.getLogger(__name__)

def looks_like_hub_id(path: str) -> bool:
    return bool(re.fullmatch(r"[\w.-]+/[\w.-]+", path)) and not path.startswith(".")


def hf_tables(path: str, hub_split: str, repo_hint: str, hub_config: Optional[str] = None) -> list[tuple]:
    """[(label, pyarrow.Table)] from a hub id or a local copy; images stay encoded ({bytes, path})."""
    local = Path(path).expanduser()
    if local.exists():
        return _local_tables(local, repo_hint)
    if not looks_like_hub_id(path):
        raise DatasetError(f"dataset.path={path}: no such file or folder, and not a hub id like lmms-lab/MME")
    import datasets

    try:
        dataset = datasets.load_dataset(path, hub_config, split=hub_split)
    except Exception as exc:  # offline, unknown repo, gated, ...
        raise DatasetError(
            f"dataset.path={path}: cannot load it from the Hugging Face hub ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); download it once, or point dataset.path "
            "at a local copy (save_to_disk folder, parquet files or a hub cache folder)"
        ) from exc
    return [(f"{path}[{hub_split}]", dataset.with_format("arrow")[:])]


def _local_tables(path: Path, repo_hint: str) -> list[tuple]:
    import pyarrow.parquet as pq

    if path.is_file():
        if path.suffix != ".parquet":
            raise DatasetError(f"dataset.path={path}: expected a .parquet file or a folder")
        return [(str(path), pq.read_table(path))]
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        import datasets

        loaded = datasets.load_from_disk(str(path))
        parts = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [("", loaded)]
        return [(f"{path}[{name}]" if name else str(path), ds.with_format("arrow")[:]) for name, ds in parts]
    repos = sorted(path.glob("datasets--*"))
    if repos:  # a hub cache root: pick the repo folder
        wanted = [r for r in repos if r.name.lower().endswith(f"--{repo_hint.lower()}")]
        if len(wanted) != 1 and len(repos) != 1:
            raise DatasetError(
                f"dataset.path={path}: a hub cache without one datasets--*--{repo_hint} folder; "
                f"found {', '.join(r.name for r in repos)}"
            )
        return _local_tables(wanted[0] if len(wanted) == 1 else repos[0], repo_hint)
    if (path / "snapshots").is_dir():
        return _local_tables(_snapshot(path), repo_hint)
    files = sorted(path.rglob("*.parquet"))
    if not files:
        found = ", ".join(sorted(p.name for p in path.iterdir())[:10]) or "nothing"
        raise DatasetError(
            f"dataset.path={path}: no parquet files, save_to_disk folder or hub cache here; found {found}"
        )
    return [(str(f), pq.read_table(f)) for f in files]


def _snapshot(repo_dir: Path) -> Path:
    """The snapshot a hub cache repo folder points at (refs/main), else the newest one."""
    ref = repo_dir / "refs" / "main"
    if ref.is_file() and (repo_dir / "snapshots" / ref.read_text().strip()).is_dir():
        return repo_dir / "snapshots" / ref.read_text().strip()
    snapshots = sorted((d for d in (repo_dir / "snapshots").iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime)
    if not snapshots:
        raise DatasetError(f"{repo_dir}: hub cache folder without snapshots")
    return snapshots[-1]


def filter_rows(table, column: str, keep: Optional[set], columns: Sequence[str]) -> list[dict]:
    """Rows of `table` whose `column` is in `keep` (all when None), as dicts of `columns` only."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = table.select([c for c in columns if c in table.column_names])
    if keep is not None:
        values = pc.cast(table.column(column), pa.string())
        table = table.filter(pc.is_in(values, value_set=pa.array(sorted(keep), pa.string())))
    return table.to_pylist()


def drop_duplicates(rows: list[dict], key: Sequence[str], where: str) -> list[dict]:
    """Drop rows repeated across files (a copy holding the same data twice, e.g. two configs)."""
    seen, kept = set(), []
    for row in rows:
        k = tuple(str(row[c]) for c in key)
        if k not in seen:
            seen.add(k)
            kept.append(row)
    if len(kept) < len(rows):
        log.warning("%s: dropped %d duplicate row(s) (same %s)", where, len(rows) - len(kept), ", ".join(key))
    return kept


def image_ref(value):
    """Encoded image as stored by `datasets` ({bytes, path} / bytes / path), passed on undecoded."""
    if isinstance(value, dict):
        return value.get("bytes") or value.get("path")
    return value
