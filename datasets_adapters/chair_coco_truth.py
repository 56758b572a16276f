"""COCO ground-truth objects per image for CHAIR, built as OPERA's chair.py builds them: the
instances and captions files of train2014 and val2014 merged, each instance's category mapped to
its node word, plus the node words CHAIR's own text pipeline finds in the image's reference
captions. Every image of the captions files gets an entry (possibly empty), as OPERA's defaultdict.
RLHF-V's Object HalBench builds the same sets (for its images only) with its own vocabulary.

Building it runs NLTK over ~600k captions (minutes), so the result is cached in `cache_dir`
(default: evalkit's cache folder, $EVALKIT_CACHE or ~/.cache/evalkit, then chair_coco/) under a key made
of the four files' content hash, the synonym table and the NLTK version: the 2nd run reads one
JSON file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Optional

from evalkit.errors import DatasetError
from evalkit.fileio import cache_root, update_digest, write_json_atomic
from evalkit.scoring.chair import ChairVocabulary

log = logging.getLogger("evalkit.chair_coco")
FILES = ("instances_train2014.json", "instances_val2014.json", "captions_train2014.json", "captions_val2014.json")
CACHE_VERSION = 1  # bump when the way ground truth is built changes


def default_cache_dir() -> Path:
    return cache_root() / "chair_coco"


def annotation_files(annotations: Path | str) -> list[Path]:
    folder = Path(annotations).expanduser()
    paths = [folder / name for name in FILES]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(f"{folder}: COCO 2014 annotation file(s) missing: {', '.join(missing)} (CHAIR merges the "
                           f"instances and captions of train2014 and val2014, as OPERA's and RLHF-V's CHAIR do)")
    return paths


def cache_key(paths: list[Path], vocabulary: ChairVocabulary) -> str:
    import nltk

    digest = hashlib.blake2b(digest_size=16)
    for part in (f"v{CACHE_VERSION}", nltk.__version__, vocabulary.synonyms,
                 json.dumps(sorted(vocabulary.double_words.items())), json.dumps(vocabulary.drop_when)):
        digest.update(part.encode("utf-8") + b"\0")
    # The text-pipeline switches enter the key only when set away from OPERA's, so the caches of
    # OPERA-style vocabularies (chair_coco) keep their keys.
    switches = [name for name, on in (("plain-lemmas", not vocabulary.pos_tagged), ("stripped", vocabulary.strip_entries))
                if on]
    for switch in switches:
        digest.update(switch.encode("utf-8") + b"\0")
    for path in paths:
        update_digest(digest, path)
        digest.update(b"\0")
    return digest.hexdigest()


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read COCO annotations ({type(exc).__name__}: {exc})") from None


def build_ground_truth(paths: list[Path], vocabulary: ChairVocabulary) -> dict[int, list[str]]:
    instances_train, instances_val, captions_train, captions_val = paths
    objects: dict[int, set[str]] = {}
    train = _read(instances_train)
    names = {c["id"]: c["name"] for c in train.get("categories", [])}  # OPERA takes train's categories
    for path, data in ((instances_val, _read(instances_val)), (instances_train, train)):
        for i, ann in enumerate(data.get("annotations", [])):
            try:
                node = vocabulary.node(names[ann["category_id"]])
            except KeyError:
                raise DatasetError(f"{path}: annotation {i} has category_id {ann.get('category_id')!r}, which is not "
                                   f"a COCO category of the synonym table") from None
            objects.setdefault(int(ann["image_id"]), set()).add(node)
    for path in (captions_val, captions_train):
        data = _read(path)
        for image in data.get("images", []):
            objects.setdefault(int(image["id"]), set())
        for ann in data.get("annotations", []):
            objects.setdefault(int(ann["image_id"]), set()).update(vocabulary.caption_words(ann["caption"]).nodes)
    return {k: sorted(v) for k, v in objects.items()}


def ground_truth(annotations: Path | str, vocabulary: ChairVocabulary,
                 cache_dir: Optional[Path | str] = None) -> dict[int, list[str]]:
    """Image id -> ground-truth node words, from the cache when the files are unchanged."""
    paths = annotation_files(annotations)
    folder = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    cached = folder / f"coco_truth_{cache_key(paths, vocabulary)}.json"
    if cached.is_file():
        try:
            return {int(k): v for k, v in json.loads(cached.read_text(encoding="utf-8")).items()}
        except (OSError, ValueError):
            log.warning("%s: unreadable cache, rebuilding", cached)
    log.info("building COCO ground truth from %s (NLTK over every reference caption; cached in %s)",
             annotations, folder)
    truth = build_ground_truth(paths, vocabulary)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(cached, {str(k): v for k, v in truth.items()})
    return truth
