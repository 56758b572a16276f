"""MME (Fu et al.): 14 subtasks, 2 yes/no questions per image (one yes, one no), scored per subtask as
acc + acc+ (both questions of an image right).

Sources: the HF dataset `lmms-lab/MME` (hub id, or a local copy: `save_to_disk` folder, parquet
file/folder, hub cache folder) and the official `MME_Benchmark_release_version/` folder
(`<subtask>/<name>.txt` beside each image, or `<subtask>/images/` + `<subtask>/questions_answers_YN/`).
Both give the same items: id `<subtask>/<image>#<k>`, group `<subtask>/<image>` (the HF question_id).

The HF/parquet readers at the bottom are shared with `pope.py`.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Optional, Sequence

from evalkit.config import MMEDatasetConfig
from evalkit.errors import DatasetError
from evalkit.types import Item

log = logging.getLogger(__name__)

_DEFAULTS = MMEDatasetConfig()  # defaults live in the schema, also when built directly
HUB_ID = _DEFAULTS.path
PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark",
              "artwork", "OCR")
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
SOURCES = ("auto", "hf", "folder")
PROMPT_STYLES = ("llava", "original")
HF_COLUMNS = ("question_id", "image", "question", "answer", "category")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
RELEASE_DIRS = ("MME_Benchmark_release_version", "MME_Benchmark")
# LLaVA drops MME's instruction and asks for a short answer instead; 7 questions have two spaces.
_PLEASE = re.compile(r"\s*Please answer yes or no\.\s*$")


def llava_question(question: str) -> str:
    """The question without its trailing "Please answer yes or no." (one or two spaces before it)."""
    return _PLEASE.sub("", question)


class MMEDataset:
    def __init__(
        self,
        path: str = _DEFAULTS.path,
        source: str = _DEFAULTS.source,
        categories: Sequence[str] = tuple(_DEFAULTS.categories),
        prompt_style: str = _DEFAULTS.prompt_style,
        question_suffix: str = _DEFAULTS.question_suffix,
    ):
        check_choice("source", source, SOURCES)
        check_choice("prompt_style", prompt_style, PROMPT_STYLES)
        self.path = str(path)
        self.source = source
        self.categories = list(categories or [])
        self.prompt_style = prompt_style
        self.question_suffix = question_suffix or ""
        self.unpaired_groups: list[str] = []  # filled by load(): images without one yes + one no

    # -- load ---------------------------------------------------------------------------------
    def load(self) -> list[Item]:
        source = self.source
        local = Path(self.path).expanduser()
        if source == "auto":
            source = "folder" if local.is_dir() and release_root(local) is not None else "hf"
        rows = self._folder_rows(local) if source == "folder" else self._hf_rows()
        items = self._items(rows)
        self._check_pairs(items)
        return items

    def _select(self, available: Iterable[str], where: str) -> Optional[set[str]]:
        """The subtasks to keep (None = all), in the data's spelling; unknown ones raise."""
        if not self.categories:
            return None
        by_lower = {c.lower(): c for c in available}
        unknown = [c for c in self.categories if c.lower() not in by_lower]
        if unknown:
            raise DatasetError(
                f"dataset.categories: unknown MME subtask(s) {', '.join(map(repr, unknown))}; "
                f"{where} has: {', '.join(sorted(by_lower.values(), key=str.lower))}"
            )
        return {by_lower[c.lower()] for c in self.categories}

    def _hf_rows(self) -> list[dict]:
        tables = hf_tables(self.path, hub_split="test", repo_hint="MME")
        rows: list[dict] = []
        for label, table in tables:
            missing = [c for c in HF_COLUMNS if c not in table.column_names]
            if missing:
                raise DatasetError(
                    f"{label}: missing column(s) {', '.join(missing)} for MME; found {', '.join(table.column_names)}"
                )
        available = {str(c) for _, t in tables for c in t.column("category").to_pylist()}
        keep = self._select(available, self.path)
        for label, table in tables:
            rows += [dict(r, origin=label) for r in filter_rows(table, "category", keep, HF_COLUMNS)]
        rows = drop_duplicates(rows, ("question_id", "question", "answer"), self.path)
        for row in rows:
            row["image"] = image_ref(row["image"])
        return rows

    def _folder_rows(self, path: Path) -> list[dict]:
        root = release_root(path) if path.is_dir() else None
        if root is None:
            raise DatasetError(
                f"dataset.path={self.path}: not an MME release folder (expected <subtask>/ folders with "
                f"<image>.txt question files, or <subtask>/images/ + <subtask>/questions_answers_YN/)"
            )
        subtasks = {d.name: d for d in _subtask_dirs(root)}
        keep = self._select(subtasks, str(root))
        rows: list[dict] = []
        for name in sorted(subtasks, key=str.lower):
            if keep is None or name in keep:
                rows += _read_subtask(subtasks[name])
        return rows

    def _items(self, rows: list[dict]) -> list[Item]:
        items, counter = [], Counter()
        for row in rows:
            category, question_id, question = str(row["category"]), str(row["question_id"]), str(row["question"])
            answer = str(row["answer"]).strip().lower()
            if answer not in ("yes", "no"):
                raise DatasetError(
                    f"{row['origin']}: question_id {question_id}: answer {row['answer']!r} is not Yes/No"
                )
            group = question_id if question_id.startswith(f"{category}/") else f"{category}/{question_id}"
            k = counter[group]
            counter[group] += 1
            shown = llava_question(question) if self.prompt_style == "llava" else question
            items.append(
                Item(
                    id=f"{group}#{k}",
                    image=row["image"],
                    question=question,
                    answer=answer,
                    category=category,
                    group=group,
                    task="mme",
                    prompt_question=shown + self.question_suffix,
                    meta={"question_id": question_id},
                )
            )
        return items

    def _check_pairs(self, items: list[Item]) -> None:
        answers: dict[str, list[str]] = defaultdict(list)
        for item in items:
            answers[item.group].append(item.answer)
        self.unpaired_groups = [g for g, a in answers.items() if sorted(a) != ["no", "yes"]]
        if self.unpaired_groups:
            examples = "; ".join(f"{g}: {answers[g]}" for g in self.unpaired_groups[:5])
            log.warning(
                "MME: %d image(s) lack exactly one yes and one no question; acc+ leaves them out (%s)",
                len(self.unpaired_groups), examples,
            )


# -- official release folder ------------------------------------------------------------------
def _is_subtask_dir(path: Path) -> bool:
    return (path / "questions_answers_YN").is_dir() or any(path.glob("*.txt"))


def _subtask_dirs(root: Path) -> list[Path]:
    return [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".") and _is_subtask_dir(d)]


def release_root(path: Path) -> Optional[Path]:
    """The folder whose children are the subtask folders: `path` itself, or a release folder below it."""
    if _subtask_dirs(path):
        return path
    for name in RELEASE_DIRS:
        if (path / name).is_dir():
            found = release_root(path / name)
            if found is not None:
                return found
    return None


def _read_subtask(folder: Path) -> list[dict]:
    if (folder / "questions_answers_YN").is_dir():
        text_dir, image_dir = folder / "questions_answers_YN", folder / "images"
    else:
        text_dir, image_dir = folder, folder
    listing = image_dir.glob("*") if image_dir.is_dir() else []
    images = {p.stem: p for p in listing if p.suffix.lower() in IMAGE_SUFFIXES}
    rows = []
    for text_file in sorted(text_dir.glob("*.txt")):
        image = images.get(text_file.stem)
        if image is None:
            raise DatasetError(f"{text_file}: no image named {text_file.stem}.<jpg|png|...> in {image_dir}")
        lines = text_file.read_text(encoding="utf-8", errors="replace").splitlines()
        for line_no, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if "\t" not in line:
                raise DatasetError(f"{text_file}:{line_no}: expected 'question<TAB>answer', got {line!r}")
            question, answer = line.rsplit("\t", 1)
            rows.append({
                "question_id": f"{folder.name}/{image.name}",
                "image": str(image),
                "question": question.strip(),
                "answer": answer,
                "category": folder.name,
                "origin": f"{text_file}:{line_no}",
            })
    return rows


# -- HF datasets and their local copies (shared with pope.py) ---------------------------------
def looks_like_hub_id(path: str) -> bool:
    return bool(re.fullmatch(r"[\w.-]+/[\w.-]+", path)) and not path.startswith(".")


def hf_tables(path: str, hub_split: str, repo_hint: str, hub_config: Optional[str] = None) -> list[tuple]:
    """[(label, pyarrow.Table)] from a hub id or a local copy; images stay encoded ({bytes, path})."""
    local = Path(path).expanduser()
    if local.exists():
        return _local_tables(local, repo_hint)
    if not looks_like_hub_id(path):
        raise DatasetError(f"dataset.path={path}: no such file or folder, and not a hub id like {HUB_ID}")
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


def check_choice(key: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise DatasetError(f"dataset.{key}={value!r} is not valid; choose one of {', '.join(choices)}")
