"""AMBER (Wang et al., 2023): an LLM-free hallucination benchmark on 1,004 images, generative (1,004
"Describe this image." captions) and discriminative (14,216 yes/no questions: existence, attribute
state / number / action, relation), scored exactly as the official `inference.py`
(`amber_metrics`, a port with its quirks).

Source: the official repository's `data/` (`query/query_*.json`: id, image AMBER_n.jpg, query; the
file chosen is the evaluation type, `query_all.json` all of them; `annotations.json`: row id-1 holds
the type and truth, and `hallu` for generative items) and the images (`image_dir`). Item ids are
AMBER's ids. The word association vocabulary and safe words ship with evalkit
(`datasets_adapters/amber_data/`, Apache-2.0, copied unchanged; other files by path).

Prompt: the query as released (`question_suffix` empty): the official rule wants a response that is
exactly `Yes` or `No`. Captions need a long answer: run with `decoding.max_new_tokens=512`.
Generative items need NLTK's data and a spaCy pipeline with word vectors (`spacy_pipeline`, default
`en_core_web_lg`, a package name or a folder); both are checked when the items load, before any
model. The settings the generative scoring reads travel in each caption row's `meta`, so a
rescore of the run (`python -m evalkit.score RUN_DIR`) scores with the same ones.

Rescoring an AMBER inference file (`[{"id": int, "response": str}]`):
`python -m evalkit.score --benchmark amber RESPONSES.json --annotations annotations.json
[--set spacy_pipeline=NAME_OR_PATH] [--set similarity_score=0.8]`; responses are read verbatim
(the official script does not strip them), those of evalkit runs stripped, as LLaVA saves them.
"""

from __future__ import annotations

import math

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pandas as pd

from datasets_adapters import amber_metrics as A
from evalkit.benchmark import Benchmark, CaptionMarks, Headline, ImportRules, Task, TaskResult, text_rule
from evalkit.config import DatasetConfig
from evalkit.errors import ConfigError, DatasetError
from evalkit.types import Item

DATA_DIR = Path(__file__).resolve().parent / "amber_data"
RESPONSE_FORMAT = "amber_inference"  # AMBER's inference file: [{"id": int, "response": str}]
SETTINGS = ("spacy_pipeline", "similarity_score", "word_association", "safe_words")  # in caption rows' meta


@dataclass
class AmberConfig(DatasetConfig):
    _target_: str = "datasets_adapters.amber.AmberDataset"
    name: str = "amber"
    query_file: str = "AMBER/data/query/query_all.json"  # the official query file (its choice = evaluation type)
    annotations: str = "AMBER/data/annotations.json"
    image_dir: str = "AMBER/image"  # AMBER_<n>.jpg
    question_suffix: str = ""  # the query as released
    spacy_pipeline: str = "en_core_web_lg"  # inference.py's spacy.load name; a package name or a folder
    similarity_score: float = 0.8  # inference.py's --similarity_score
    word_association: str = str(DATA_DIR / "relation.json")
    safe_words: str = str(DATA_DIR / "safe_words.txt")

    def __post_init__(self):
        if not 0.0 <= float(self.similarity_score) <= 1.0:
            raise ConfigError(f"dataset.similarity_score={self.similarity_score}: a similarity in [0, 1]")


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read AMBER {what} ({type(exc).__name__}: {exc})") from None


def read_annotations(path: Path | str) -> dict[int, dict]:
    """annotations.json by AMBER id (the official script indexes row id-1: checked to agree)."""
    path = Path(path).expanduser()
    rows = _read_json(path, "annotations.json")
    if not isinstance(rows, list):
        raise DatasetError(f"{path}: expected a JSON array of annotation rows")
    out: dict[int, dict] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or row.get("id") != i + 1 or "type" not in row or "truth" not in row:
            raise DatasetError(f"{path}[{i}]: expected id {i + 1} with type and truth (the official script reads "
                               f"row id-1), got {str(row)[:80]}")
        if row["type"] == A.GENERATIVE and not isinstance(row.get("hallu"), list):
            raise DatasetError(f"{path}[{i}]: generative row without a 'hallu' list")
        if row["type"] != A.GENERATIVE and row["truth"] not in ("yes", "no"):
            raise DatasetError(f"{path}[{i}]: discriminative truth {row['truth']!r} is not yes/no")
        out[i + 1] = row
    return out


def category_of(kind: str) -> str:
    return A.GENERATIVE if kind == A.GENERATIVE else A.DIMENSION[A.prefix_of(kind)]


def item_fields(amber_id: int, annotation: Mapping, settings: Mapping[str, Any]) -> dict[str, Any]:
    """What an item or an imported row carries: answer, category, and the meta scoring reads."""
    kind = annotation["type"]
    meta: dict[str, Any] = {"amber_id": amber_id, "type": kind}
    if kind == A.GENERATIVE:
        meta.update(truth=list(annotation["truth"]), hallu=list(annotation["hallu"]), **dict(settings))
        answer = ""  # no single answer: the objects are in meta
    else:
        answer = annotation["truth"]
    return {"answer": answer, "category": category_of(kind), "meta": meta}


def check_generative(settings: Mapping[str, Any]) -> None:
    """Everything scoring captions needs, before any model loads."""
    A.check_nltk()
    A.check_spacy(str(settings["spacy_pipeline"]))
    A.Vocabulary.read(settings["word_association"], settings["safe_words"])


# ------------------------------------------------------------------------------------ importing

def response_rows(records: Sequence[dict], questions: Sequence[Path | str], path: Path | str,
                  annotations: Optional[Path | str] = None, settings: Optional[Mapping[str, str]] = None
                  ) -> Optional[list[dict]]:
    """Rows of AMBER's inference format ([{"id": int, "response": str}]) joined with annotations.json
    (--annotations, else the default dataset.annotations), or None for another format. `settings`
    (--set KEY=VALUE): the generative settings of the dataset config."""
    from evalkit.scoring.importers import PredictionImportError

    columns = set().union(*(r.keys() for r in records))
    if not {"id", "response"} <= columns or not columns <= {"id", "response", "query", "image"}:
        return None
    defaults = AmberConfig()
    chosen = {**{k: getattr(defaults, k) for k in SETTINGS}, **dict(settings or {})}
    unknown = sorted(set(chosen) - set(SETTINGS))
    if unknown:
        raise PredictionImportError(f"--set {unknown}: AMBER's settings are {', '.join(SETTINGS)}")
    chosen["similarity_score"] = float(chosen["similarity_score"])
    source = Path(annotations if annotations is not None else defaults.annotations).expanduser()
    if not source.is_file():
        raise PredictionImportError(f"{path}: AMBER responses carry no ground truth; pass the official "
                                    f"annotations.json with --annotations (not found: {source})")
    truth = read_annotations(source)
    rows = []
    for i, r in enumerate(records):
        amber_id = r.get("id")
        if not isinstance(amber_id, int) or amber_id not in truth:
            raise PredictionImportError(f"{path}[{i}]: id {amber_id!r} is not an AMBER id of {source}")
        fields = item_fields(amber_id, truth[amber_id], chosen)
        fields["meta"]["verbatim"] = True  # score the response as the file has it, unstripped
        rows.append({"id": str(amber_id), "task": AMBER.name, "question": str(r.get("query") or ""),
                     "group": str(r.get("image") or ""), "prediction": r.get("response"), **fields})
    if any(r["category"] == A.GENERATIVE for r in rows):
        try:
            check_generative(chosen)
        except ConfigError as exc:
            raise PredictionImportError(f"{path}: {exc}") from None
    return rows


# ----------------------------------------------------------------------------------------- task

def exact_yes_no(text: str) -> str:
    """The official rule: exactly `Yes` or `No` (case and whitespace matter), else other."""
    return {"Yes": "yes", "No": "no"}.get(text, "other")


class AmberTask(Task):
    """inference.py's numbers (points, one decimal) per dimension, CHAIR / Cover / Hal / Cog of the
    captions, and the AMBER score from them."""

    name = "amber"
    rules = {"amber": text_rule(exact_yes_no)}
    official_rule = "amber"
    headline = (Headline("amber_score", format="points"), Headline("amber_chair", direction="lower", format="points"),
                Headline("amber_cover", format="points"), Headline("amber_hal", direction="lower", format="points"),
                Headline("amber_cog", direction="lower", format="points"), Headline("amber_f1", format="points"),
                Headline("amber_accuracy", format="points"), Headline("amber_precision", format="points"),
                Headline("amber_recall", format="points"))
    columns = ("n", "accuracy", "precision", "recall", "f1", "chair", "cover", "hal", "cog", "n_error")
    formats = {**{c: "points" for c in ("accuracy", "precision", "recall", "f1", "chair", "cover", "hal", "cog")},
               "n": "count", "n_error": "count"}
    category_values = ("accuracy", "f1", "chair")
    summary_rows = frozenset({"discriminative", "attribute"})
    paired_columns = A.CAPTION_COUNTS
    note = ("AMBER: numbers in points as the official inference.py prints them (rounded to 0.1, counters from "
            "metrics.txt's 0.001, 'No' the positive class, responses must be exactly Yes/No); CHAIR/Cover/Hal/Cog "
            "over the captions; amber_score = 100 x (1 - CHAIR + F1) / 2; caption rows have no 'correct'")
    imports = ImportRules(own_format=RESPONSE_FORMAT, own_rows=response_rows)

    def check_item(self, item: Item) -> None:
        if item.category != A.GENERATIVE and item.answer not in ("yes", "no"):
            raise ValueError(f"item {item.id!r}: a discriminative AMBER item needs answer yes or no, got {item.answer!r}")

    def annotate(self, rows: pd.DataFrame, rule: str, is_error: pd.Series) -> pd.DataFrame:
        meta = rows["meta"] if "meta" in rows.columns else pd.Series([{}] * len(rows), index=rows.index)
        verbatim = meta.map(lambda m: bool((m or {}).get("verbatim")))
        raw = rows["prediction"] if "prediction" in rows.columns else rows["text"]
        responses = [(p if isinstance(p, str) else "") if v else t for p, t, v in zip(raw, rows["text"], verbatim)]
        rows["response"] = pd.Series(responses, index=rows.index, dtype=object).where(~is_error, "")
        rows["parsed"] = pd.Series([self.parse(r, None, rule) for r in rows["response"]], index=rows.index,
                                   dtype=object).where(~is_error, None)
        captions = rows["category"] == A.GENERATIVE
        rows["correct"] = ((rows["parsed"] == rows["answer"]) & ~is_error).astype(object).where(~captions, None)
        # The per-item score of the yes/no items; captions are scored by their counts, not per item.
        rows["score"] = rows["correct"].map(lambda c: float(c) if isinstance(c, bool) else math.nan).astype(float)
        if captions.any():
            counted = score_captions(rows.loc[captions, "response"], meta[captions], rows.loc[captions, "id"])
            for column in (*A.CAPTION_COUNTS, "objects", "hallucinated"):
                rows[column] = pd.Series(None, index=rows.index, dtype=object)
                rows.loc[captions, column] = pd.Series([c[column] for c in counted], index=rows.index[captions],
                                                       dtype=object)
        return rows

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        captions = rows["category"] == A.GENERATIVE
        answers, out, headline = rows[~captions], [], {}
        n_error = rows["parsed"].isna()
        if len(answers):
            counters = A.initial_counters()
            for kind, truth, parsed in zip(answers["meta"].map(lambda m: m["type"]), answers["answer"],
                                           answers["parsed"]):
                A.tally_answer(counters, kind, truth, {"yes": "Yes", "no": "No"}.get(parsed, ""))
            kinds = answers["category"]
            for category, prefixes, epsilon in A.DISCRIMINATIVE_ROWS:
                members = kinds.isin([A.DIMENSION[p.rstrip("_")] for p in prefixes]) if prefixes != ("",) else \
                    pd.Series(True, index=kinds.index)
                if members.any():
                    out.append({"category": category, "n": int(members.sum()),
                                **A.answer_scores(counters, prefixes, epsilon),
                                "n_error": int(n_error[members.index[members]].sum())})
            headline.update({f"amber_{k}": out[0][k] for k in ("accuracy", "precision", "recall", "f1")})
        if captions.any():
            scores = A.caption_scores(rows[captions].to_dict("records"))
            out.append({"category": A.GENERATIVE, "n": int(captions.sum()), **scores,
                        "n_error": int(n_error[captions].sum())})
            headline.update({f"amber_{k}": v for k, v in scores.items()})
        if "amber_chair" in headline and "amber_f1" in headline:
            headline["amber_score"] = A.amber_score(headline["amber_chair"], headline["amber_f1"])
        table = pd.DataFrame(out).reindex(columns=["category", *self.columns])
        return TaskResult(table, headline)

    def caption_marks(self, rows: pd.DataFrame) -> list[CaptionMarks]:
        """The generative rows: the nouns inference.py counts against CHAIR (neither a truth
        object, its associate, a safe word nor spaCy-similar to a truth object) and the truth."""
        if "hallucinated" not in rows:
            return []
        captions = rows[(rows["category"] == A.GENERATIVE) & rows["hallucinated"].notna()]
        return [CaptionMarks(str(r["id"]), str(r["response"]), tuple(r["hallucinated"]),
                             tuple((r["meta"] or {}).get("truth", ())))
                for r in captions.to_dict("records")]

    def paired_deltas(self, joined: pd.DataFrame, boot: dict) -> dict:
        from datasets_adapters.amber_compare import amber_deltas

        return amber_deltas(joined, boot)


def score_captions(responses: pd.Series, meta: pd.Series, ids: pd.Series) -> list[dict]:
    """Each caption's official counters, with the settings its rows carry (one set per scoring)."""
    settings = {tuple((m or {}).get(k) for k in SETTINGS) for m in meta}
    if len(settings) != 1 or None in next(iter(settings)):
        raise DatasetError(f"AMBER caption rows must carry one set of settings {SETTINGS} in meta; found {settings}")
    chosen = dict(zip(SETTINGS, next(iter(settings))))
    vocab = A.Vocabulary.read(chosen["word_association"], chosen["safe_words"])
    count = A.caption_counter(vocab, str(chosen["spacy_pipeline"]), float(chosen["similarity_score"]))
    out = []
    for response, m, uid in zip(responses, meta, ids):
        try:
            out.append(count(response, m["truth"], m["hallu"]))
        except ValueError as exc:
            raise DatasetError(f"AMBER item {uid}: {exc}") from None
    return out


AMBER = AmberTask()


class AmberDataset(Benchmark):
    schema = AmberConfig  # its settings: AmberDataset(query_file=..., ...) or the yaml's keys
    tasks = (AMBER,)

    def __init__(self, **settings):
        super().__init__(**settings)
        s = self.settings
        self.query_file, self.annotations, self.image_dir = (Path(p).expanduser()
                                                             for p in (s.query_file, s.annotations, s.image_dir))
        # What generative scoring reads, carried in each caption row's meta (SETTINGS).
        self.caption_settings = {"spacy_pipeline": str(s.spacy_pipeline), "similarity_score": float(s.similarity_score),
                                 "word_association": str(Path(s.word_association).expanduser().resolve()),
                                 "safe_words": str(Path(s.safe_words).expanduser().resolve())}

    def load(self) -> list[Item]:
        for path, what in ((self.query_file, "dataset.query_file"), (self.annotations, "dataset.annotations")):
            if not path.is_file():
                raise DatasetError(f"{what}={path}: no such file (AMBER's data/ folder of the official repository)")
        queries = _read_json(self.query_file, "query file")
        truth = read_annotations(self.annotations)
        items = []
        for i, q in enumerate(queries if isinstance(queries, list) else [None]):
            if not isinstance(q, dict) or not {"id", "image", "query"} <= q.keys() or q["id"] not in truth:
                raise DatasetError(f"{self.query_file}[{i}]: expected id (an id of {self.annotations}), image, query; "
                                   f"got {str(q)[:80]}")
            fields = item_fields(q["id"], truth[q["id"]], self.caption_settings)
            items.append(Item(id=str(q["id"]), image=str(self.image_dir / q["image"]), question=q["query"],
                              group=q["image"], task=AMBER.name, prompt_question=q["query"] + self.question_suffix,
                              **fields))
        if items and not any(Path(i.image).is_file() for i in items):
            raise DatasetError(f"dataset.image_dir={self.image_dir}: none of the {len(items)} images is there "
                               f"(e.g. {items[0].image})")
        if any(i.category == A.GENERATIVE for i in items):
            check_generative(self.caption_settings)
        return items
