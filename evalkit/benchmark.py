"""The benchmark unit: everything after generation asks a benchmark, never names one.

A benchmark is a class built by Hydra from `conf/dataset/<name>.yaml` (`_target_`). Its instances
load the items (with the benchmark's prompt conventions applied); the class itself declares, with
no data needed, how its predictions are scored: its `tasks`. A task is one scoring protocol over
prediction rows (the rows' `task` column names it): the parse rules that apply and the official
one, the metrics (pure functions over the predictions DataFrame), the headline numbers with their
direction and format, what reports show per category, how other tools' files are imported, and
the paired statistics `report compare` computes. Several benchmarks may share a task (the
synthetic `shapes` set asks MME-style and POPE-style questions and scores them with those tasks).

Scoring, rescoring and import, the per-run table, the leaderboard, compare and report.html get the
benchmark of a run from its `config.yaml` (`dataset._target_`), so a benchmark defined in a user's
own module and config folder works everywhere without editing evalkit (docs/extending.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from typing import Any, Callable, ClassVar, Mapping, Optional, Sequence

import pandas as pd

from evalkit.errors import EvalkitError
from evalkit.types import Item

OVERALL = "all"  # label of the pooled row in per-category tables
# Dataset config keys evalkit itself reads (which class, the run's name, the parse rule), not the adapter.
EVALKIT_KEYS = ("_target_", "name", "parse_rule")
_NOT_SETTINGS = ("_target_", "name")  # schema fields that are not attributes of the built adapter
FORMATS = ("percent", "points", "count", "probability")
DIRECTIONS = ("higher", "lower", "target")


class BenchmarkError(EvalkitError):
    pass


@dataclass(frozen=True)
class Headline:
    """One headline number (a key of summary.json["metrics"]): which way is better, how to show it."""

    name: str
    direction: str = "higher"  # higher | lower | target (best nearest `target`, e.g. a yes-ratio of 0.5)
    format: str = "percent"  # percent (a fraction shown x100) | points | count | probability
    target: Optional[float] = None

    def __post_init__(self):
        if self.direction not in DIRECTIONS or self.format not in FORMATS:
            raise ValueError(f"headline {self.name}: direction in {DIRECTIONS}, format in {FORMATS}")
        if (self.direction == "target") != (self.target is not None):
            raise ValueError(f"headline {self.name}: direction=target needs a target, and only it")

    def sort_key(self, value: Any) -> float:
        """Smaller is better (for sorting best first); NaN for a missing value."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return math.nan
        value = float(value)
        if self.direction == "target":
            return abs(value - float(self.target))  # type: ignore[arg-type]
        return value if self.direction == "lower" else -value


@dataclass(frozen=True)
class TaskResult:
    """What a task's metrics return: tidy rows (a `category` column, then metric columns; they
    become metrics.csv with a `task` column added) and the headline numbers of the task."""

    table: pd.DataFrame
    headline: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportRules:
    """How files of other tools (simple rows, lmms-eval logs, LLaVA answer files) map to this task."""

    category: Optional[str] = None  # what `category` is, when an imported row must have one ("MME subtask")
    categories_in_file_names: tuple[str, ...] = ()  # category named by the file (coco_pope_random.json)
    group_is_question_id: bool = False  # the source's question_id names the image its questions share
    number_repeated_ids: bool = False  # ids repeated per question of one image: numbered id#1, id#2
    lmms_eval_group: Optional[Callable[[dict], str]] = None  # the group of an lmms-eval `doc`
    id_stride: Optional[int] = None  # answer ids offset per category by this stride (LLaVA's POPE file)
    # The benchmark's own result format (its official tool's output), tried before the generic ones:
    # own_rows(records, questions, path) -> minimal rows (id, task, question, answer, category, group,
    # prediction, meta) when the records are in that format, else None; own_format names it. The
    # CLI's --annotations PATH (ground truth the records lack) and --set KEY=VALUE reach it as
    # keywords `annotations` / `settings`.
    own_format: Optional[str] = None
    own_rows: Optional[Callable[[Sequence[dict], Sequence[Any], Any], Optional[list[dict]]]] = None


@dataclass(frozen=True)
class ItemView:
    """What a parse rule and a score function see of one item: the fields of its prediction row
    (options, human answers, OCR tokens... travel in `meta`, copied from `Item.meta`)."""

    id: str
    question: str
    answer: str
    category: str = ""
    group: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> "ItemView":
        meta = row.get("meta")
        return cls(id=str(row.get("id", "")), question=_text(row.get("question")), answer=_text(row.get("answer")),
                   category=_text(row.get("category")), group=_text(row.get("group")),
                   meta=meta if isinstance(meta, Mapping) else {})

    @classmethod
    def of_item(cls, item: Item) -> "ItemView":
        return cls(id=item.id, question=item.question, answer=item.answer, category=item.category,
                   group=item.group, meta=item.meta)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None or value != value else str(value)


# A parse rule: (the model's stripped text, the item) -> the parsed answer; "" when unreadable.
Rule = Callable[[str, ItemView], str]


def text_rule(read: Callable[[str], str]) -> Rule:
    """A rule that needs only the text (the yes/no rules), in the (text, item) form."""
    def rule(text: str, item: ItemView) -> str:
        return read(text)

    rule.__name__ = getattr(read, "__name__", "rule")
    rule.__doc__ = read.__doc__
    return rule


class Task:
    """One scoring protocol of an answer type (evalkit/tasks/) or of one benchmark (its module).

    The scorer calls `annotate` on the task's prediction rows: each row's text is parsed by a
    rule that sees the item (`rules[name](text, ItemView)`), the ground truth is read by `truth`,
    and `score(parsed, item)` gives the per-item score that every table, headline standard error
    and paired statistic reads (1/0 for exact tasks, soft accuracy for VQA, a judge's rating).
    Nothing is normalised behind the task's back: `truth` and `score` say how an answer compares.
    """

    name: str = ""
    rules: Mapping[str, Rule] = {}  # parse rules that apply, by name
    official_rule: str = ""
    answers: Optional[tuple[str, ...]] = None  # allowed ground truths; None: any text
    headline: tuple[Headline, ...] = ()  # the task's own headline numbers, its primary first
    columns: tuple[str, ...] = ()  # metrics.csv columns after task, category
    formats: Mapping[str, str] = {}  # metrics.csv column -> format (see Headline.format)
    shown: Optional[tuple[str, ...]] = None  # columns the printed table shows (None: all)
    category_values: tuple[str, ...] = ("accuracy",)  # columns reports show per category
    summary_rows: frozenset = frozenset({OVERALL})  # table rows that summarise, not categories
    note: str = ""  # how to read the numbers (joined into summary.json's note)
    imports: ImportRules = ImportRules()
    paired_columns: tuple[str, ...] = ()  # annotated columns `report compare` carries per run (name_a, name_b)
    max_new_tokens: Optional[int] = None  # the generation length it needs (captions); None: the default
    binary: bool = True  # per-item scores are 0/1 (McNemar applies); False: soft accuracy, ratings
    score_name: str = "accuracy"  # what the mean per-item score is called in paired statistics
    # Headline numbers pooled over the rows of every task of this kind in a run (yes/no: accuracy,
    # yes-ratio), shown before / after the tasks' own.
    pooled_headlines: tuple[tuple[Headline, ...], tuple[Headline, ...]] = ((), ())

    def check_ready(self) -> None:
        """Fail (before any model loads) on what scoring this task would miss, e.g. NLTK data."""

    def details(self, text: str, answer: Any) -> dict:
        """Extra facts a prediction row keeps in its meta (a caption's objects); {} for none."""
        return {}

    def rule(self, rule: Optional[str]) -> str:
        """The rule to apply: `rule` if this task knows it, the official one for None."""
        if rule is None:
            return self.official_rule
        if rule not in self.rules:
            raise ValueError(f"task {self.name}: unknown parse rule {rule!r}; choose one of {tuple(self.rules)}")
        return rule

    def parse(self, text: Any, item: ItemView, rule: Optional[str] = None) -> str:
        """A stripped model answer about `item` read under `rule` (None: the official one)."""
        return self.rules[self.rule(rule)](text if isinstance(text, str) else "", item)

    def truth(self, answer: str) -> str:
        """How the ground truth is read before comparing: as written, unless the task says otherwise."""
        return answer

    def score(self, parsed: str, item: ItemView) -> float:
        """The per-item score of a parsed answer: exact match with the ground truth by default."""
        return 1.0 if parsed == item.answer else 0.0

    def is_correct(self, score: float, item: ItemView) -> bool:
        return score >= 1.0

    def choices(self, item: Item) -> Optional[tuple[str, ...]]:
        """The answer options a log-likelihood decoder chooses between for `item`; None: not a choice."""
        return None

    def known_category(self, category: str) -> bool:
        """Whether an imported row's category can be one of this task's (False refuses the file)."""
        return True

    def check_item(self, item: Item) -> None:
        if self.answers is not None and self.truth(item.answer) not in self.answers:
            raise ValueError(f"item {item.id!r}: answer must be one of {self.answers} for task {self.name}, "
                             f"got {item.answer!r}")

    def annotate(self, rows: pd.DataFrame, rule: str, is_error: pd.Series) -> pd.DataFrame:
        """Rows with `parsed`, `score` and `correct` added (error rows: None, 0, False); subclasses
        add what else their metrics read."""
        read = self.rules[rule]
        parsed, scores, correct = [], [], []
        for row, error in zip(rows.to_dict("records"), is_error):
            if error:
                parsed.append(None), scores.append(0.0), correct.append(False)
                continue
            item = ItemView.of_row(row)
            answer = read(row["text"], item)
            score = float(self.score(answer, item))
            parsed.append(answer), scores.append(score), correct.append(bool(self.is_correct(score, item)))
        rows["parsed"] = pd.Series(parsed, index=rows.index, dtype=object)
        rows["score"] = pd.Series(scores, index=rows.index, dtype=float)
        rows["correct"] = pd.Series(correct, index=rows.index, dtype=bool)
        return rows

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        raise NotImplementedError

    def paired_deltas(self, joined: pd.DataFrame, boot: dict) -> dict:
        """Task-specific paired statistics for `report compare` (name -> stats.Delta), beside the
        mean per-item score every task gets."""
        return {}

    def caption_marks(self, rows: pd.DataFrame) -> list["CaptionMarks"]:
        """For report.html: this task's scored caption rows (annotated by `annotate`) with their
        hallucinated words; [] for tasks without captions."""
        return []


@dataclass(frozen=True)
class CaptionMarks:
    """One caption as report.html shows it: the text, the words to mark, the ground truth."""

    id: str
    text: str
    hallucinated: tuple[str, ...]
    ground_truth: tuple[str, ...]


class Benchmark:
    """Base class of the adapters in conf/dataset: `load()` yields the items; the class declares
    its tasks (the first is the one imported files are scored with) and, optionally, the headline
    numbers a leaderboard sorts by (the first that every run has).

    A benchmark with a `schema` is built from it: its settings (the yaml's keys, or keywords when
    built directly) become `self.settings`, an instance of the schema, so the schema's fields,
    defaults and `__post_init__` are the one declaration and check of them. Each setting is also
    an attribute (`self.path`) unless the class has one of that name (shapes' `tasks` setting is
    `self.settings.tasks`). A benchmark without a schema writes its own `__init__`."""

    tasks: ClassVar[tuple[Task, ...]] = ()
    primary_metrics: ClassVar[tuple[str, ...]] = ()
    schema: ClassVar[Optional[type]] = None  # its yaml's typed schema (an evalkit.config.DatasetConfig)

    def __init__(self, **settings: Any):
        from evalkit.errors import build_settings

        if self.schema is None:
            if settings:
                raise BenchmarkError(f"{type(self).__name__} declares no schema and no __init__ of its own, so it "
                                     f"takes no settings; got {', '.join(settings)}")
            return
        self.settings = build_settings(self.schema, "dataset", settings)
        vars(self).update({k: v for k, v in vars(self.settings).items()
                           if k not in _NOT_SETTINGS and not hasattr(type(self), k)})

    def load(self) -> list[Item]:
        raise NotImplementedError

    @classmethod
    def task(cls, name: Any) -> Task:
        for task in cls.tasks:
            if task.name == name:
                return task
        raise BenchmarkError(f"{cls.__name__}: no task {name!r}; its tasks: {[t.name for t in cls.tasks]}")

    @classmethod
    def headlines(cls) -> list[Headline]:
        """Every headline number its runs can have, in display order: those shared by all its
        tasks (pooled over the rows), each task's own, then the pooled counts."""
        front = [h for task in cls.tasks for h in task.pooled_headlines[0]]
        back = [h for task in cls.tasks for h in task.pooled_headlines[1]]
        return _unique([*front, *(h for task in cls.tasks for h in task.headline), *back])

    @classmethod
    def primary(cls) -> tuple[str, ...]:
        return cls.primary_metrics or (*(t.headline[0].name for t in cls.tasks if t.headline), "accuracy")


def _unique(headlines: Sequence[Headline]) -> list[Headline]:
    seen: dict[str, Headline] = {}
    for h in headlines:
        seen.setdefault(h.name, h)
    return list(seen.values())


# ----------------------------------------------------------------------------------- finding one

def benchmark_class(target: str, where: Optional[str] = None) -> type[Benchmark]:
    """The class a `_target_` names (imported, never instantiated: scoring needs no data). `where`:
    the run directory file the name was read from; such a name is imported only if evalkit.trust
    allows it, and never from the current directory."""
    from hydra.utils import get_class

    from evalkit import trust

    try:
        cls = trust.import_class(target, where) if where else get_class(target)
    except trust.UntrustedTarget:
        raise
    except Exception as exc:
        module = str(target).rpartition(".")[0]
        hint = ("" if str(target).startswith(("evalkit.", "datasets_adapters.")) else
                f"; a benchmark of your own must be importable: PYTHONPATH=<folder holding {module}> "
                "(its yaml found with hydra.searchpath=[file:///absolute/path/to/conf])")
        raise BenchmarkError(f"cannot import benchmark {target!r}: {exc}{hint}") from None
    if not (isinstance(cls, type) and issubclass(cls, Benchmark)):
        raise BenchmarkError(f"{target} is not an evalkit benchmark (a subclass of evalkit.benchmark.Benchmark)")
    return cls


def benchmark_keys(cls: type[Benchmark]) -> Optional[list[str]]:
    """The dataset keys a benchmark's yaml may set: its schema's fields, else its constructor's
    arguments and the keys evalkit reads; None when its constructor takes any keyword."""
    import inspect
    from dataclasses import fields

    if cls.schema is not None:
        return sorted(f.name for f in fields(cls.schema))
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]  # without self
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return sorted({*EVALKIT_KEYS, *(p.name for p in parameters if p.kind is not p.VAR_POSITIONAL)})


