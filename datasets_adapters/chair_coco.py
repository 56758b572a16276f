"""`chair_coco`: open-ended captions of COCO val2014 images scored with CHAIR exactly as OPERA's
`chair.py` scores them (the lineage LLaVA hallucination papers report: CHAIR_s, CHAIR_i, Recall,
Len on 500 val2014 images).

Items: `n_images` (default 500) images drawn with `seed` from `image_dir` (COCO's val2014 folder,
files COCO_val2014_<12-digit id>.jpg), or the ids of `image_ids` (a text file of ids, or a JSON /
JSONL file whose rows have `image_id`, e.g. one of OPERA's caption logs, to caption its 500
images). Prompt: "Please describe this image in detail." (`prompt`), no suffix. Generation runs up
to 512 new tokens (the caption task's length) unless decoding.max_new_tokens is set.

Ground truth: COCO's instances + captions of train2014 and val2014 in `annotations`, merged as
OPERA does (`chair_coco_truth`, cached by content hash). Each item's answer is its image's
ground-truth objects, so rescoring needs only predictions.jsonl.

Rescoring other tools' captions: `python -m evalkit.score --benchmark chair_coco FILE --annotations
COCO_ANNOTATION_DIR` for {"image_id", "caption"} rows (OPERA's logs), lmms-eval sample logs whose
doc has `image_id`/`question_id`, or evalkit predictions.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from datasets_adapters.chair_coco_truth import ground_truth
from datasets_adapters.chair_coco_vocab import COCO_VOCABULARY
from datasets_adapters.shapes_scene import DESCRIBE_PROMPT
from evalkit.benchmark import Benchmark, ImportRules
from evalkit.config import DatasetConfig
from evalkit.errors import ConfigError, DatasetError
from evalkit.tasks.caption import ChairTask, caption_rows, objects_answer
from evalkit.types import Item

FILE_PATTERN = re.compile(r"^COCO_val2014_(\d{12})\.jpg$")
CAPTION_FORMAT = "caption_rows"  # {"image_id", "caption"} rows (OPERA's logs)


@dataclass
class ChairCocoConfig(DatasetConfig):
    _target_: str = "datasets_adapters.chair_coco.ChairCocoDataset"
    name: str = "chair_coco"
    annotations: str = "coco/annotations"  # instances_{train,val}2014.json + captions_{train,val}2014.json
    image_dir: str = "coco/val2014"
    n_images: int = 500
    seed: int = 0
    image_ids: Optional[str] = None  # a file of image ids (text, or JSON/JSONL rows with image_id)
    prompt: str = DESCRIBE_PROMPT
    question_suffix: str = ""
    cache_dir: Optional[str] = None  # ground-truth cache (default ~/.cache/evalkit/chair_coco)

    def __post_init__(self):
        if self.n_images < 1:
            raise ConfigError(f"dataset.n_images={self.n_images}: must be >= 1")


def image_file(image_id: int) -> str:
    return f"COCO_val2014_{int(image_id):012d}.jpg"


def read_image_ids(path: Path | str) -> list[int]:
    """Ids from a text file (one per line) or JSON / JSONL rows with `image_id` (order kept)."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"dataset.image_ids={path}: cannot read it ({exc})") from None
    ids: list[Any] = []
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            ids = [r["image_id"] if isinstance(r, dict) else r for r in json.loads(text)]
        elif stripped.startswith("{"):
            ids = [json.loads(line)["image_id"] for line in text.splitlines() if line.strip()]
        else:
            ids = [line.strip() for line in text.splitlines() if line.strip()]
        out = [int(i) for i in ids]
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"dataset.image_ids={path}: expected image ids, one per line or rows with 'image_id' "
                           f"({type(exc).__name__}: {exc})") from None
    if not out:
        raise DatasetError(f"dataset.image_ids={path}: no ids")
    return list(dict.fromkeys(out))


def _import_rows(records: Sequence[dict], questions, path, annotations=None, cache_dir=None) -> Optional[list[dict]]:
    """The import hook: caption rows ({image_id, caption}), lmms-eval logs (doc.image_id or
    doc.question_id, resps) or evalkit predictions, scored against --annotations."""
    columns = set().union(*(r.keys() for r in records))
    if "doc" in columns and ("resps" in columns or "filtered_resps" in columns):
        from evalkit.scoring.importers import _first_text

        records = [{"image_id": (r["doc"] or {}).get("image_id", (r["doc"] or {}).get("question_id")),
                    "caption": _first_text(r.get("filtered_resps")) or _first_text(r.get("resps"))} for r in records]
    elif {"id", "task", "text"} <= columns:  # evalkit predictions: keep their own ground truth unless given
        if annotations is None:
            return None
        records = [{"image_id": (r.get("meta") or {}).get("image_id", r["id"]), "caption": r.get("text")}
                   for r in records]
    elif not {"image_id", "caption"} <= columns:
        return None
    if annotations is None:
        from evalkit.scoring.importers import PredictionImportError

        raise PredictionImportError(f"{path}: caption rows carry no ground truth; pass --annotations "
                                    f"COCO_ANNOTATION_DIR (instances + captions of train2014 and val2014)")
    truth = ground_truth(annotations, COCO_VOCABULARY, cache_dir)
    return caption_rows(records, CHAIR, truth, path)


CHAIR = ChairTask("chair", COCO_VOCABULARY, prefix="chair",
                  imports=ImportRules(own_format=CAPTION_FORMAT, own_rows=_import_rows))


class ChairCocoDataset(Benchmark):
    schema = ChairCocoConfig  # its settings: ChairCocoDataset(annotations=..., ...) or the yaml's keys
    tasks = (CHAIR,)

    def __init__(self, **settings):
        super().__init__(**settings)
        self.annotations = Path(self.settings.annotations).expanduser()
        self.image_dir = Path(self.settings.image_dir).expanduser()

    def select(self) -> list[int]:
        """The evaluated image ids: the `image_ids` file's, else `n_images` drawn with `seed` from
        the val2014 files of `image_dir` (sorted by id first, so the draw is the same on any disk)."""
        if self.image_ids:
            ids = read_image_ids(self.image_ids)
            missing = [i for i in ids if not (self.image_dir / image_file(i)).is_file()]
            if missing:
                raise DatasetError(f"dataset.image_dir={self.image_dir}: {len(missing)} image(s) of "
                                   f"dataset.image_ids are missing, e.g. {image_file(missing[0])}")
            return ids
        if not self.image_dir.is_dir():
            raise DatasetError(f"dataset.image_dir={self.image_dir}: no such folder (COCO's val2014 images)")
        found = sorted(int(m.group(1)) for p in self.image_dir.iterdir() if (m := FILE_PATTERN.match(p.name)))
        if not found:
            raise DatasetError(f"dataset.image_dir={self.image_dir}: no COCO_val2014_<id>.jpg files")
        return random.Random(self.seed).sample(found, min(self.n_images, len(found)))

    def load(self) -> list[Item]:
        CHAIR.check_ready()  # NLTK data missing: stop here, before any model loads
        ids = self.select()
        truth = ground_truth(self.annotations, COCO_VOCABULARY, self.cache_dir)
        unknown = [i for i in ids if i not in truth]
        if unknown:
            raise DatasetError(f"dataset.annotations={self.annotations}: {len(unknown)} image id(s) are in no "
                               f"captions file, e.g. {unknown[:5]}")
        question = self.prompt + self.question_suffix
        return [Item(id=str(i), image=str(self.image_dir / image_file(i)), question=self.prompt,
                     answer=objects_answer(truth[i]), category="val2014", group=str(i), task=CHAIR.name,
                     prompt_question=question, meta={"image_id": i}) for i in ids]
