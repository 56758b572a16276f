"""POPE adapter: official question files (JSON lines and JSON arrays) + image folder, and the HF schema
(parquet, save_to_disk, hub cache with both configs); ids unique across splits; errors that name what
exists; the real question files in ../shared/data/pope."""

from __future__ import annotations

import io
import json
import logging
import shutil
from collections import Counter
from pathlib import Path

import pytest
from support.shared_data import needs_shared
from datasets import Dataset, DatasetDict, Features, Image, Value
from PIL import Image as PILImage

from datasets_adapters.pope import POPEDataset
from evalkit.errors import ConfigError, DatasetError

SUFFIX = "\nAnswer the question using a single word or phrase."
SPLITS = ("random", "popular", "adversarial")
IMAGES = ["COCO_val2014_000000310196.jpg", "COCO_val2014_000000210789.jpg"]
OBJECTS = {"random": ["car", "oven"], "popular": ["chair", "cup"], "adversarial": ["skis", "pole"]}
SHARED_POPE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pope"
FEATURES = Features({"id": Value("string"), "question_id": Value("string"), "question": Value("string"),
                     "answer": Value("string"), "image_source": Value("string"), "image": Image(),
                     "category": Value("string")})


def png(index: int) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (5 + index, 4), (200, 30 * index, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def records(split: str) -> list[dict]:
    """2 images x 4 questions; question_id restarts at 1 in every split, labels as released (some capitalised)."""
    rows = []
    for i, image in enumerate(IMAGES):
        pairs = (("person", "yes"), (OBJECTS[split][0], "no"), ("snowboard", "Yes"), (OBJECTS[split][1], "no"))
        for obj, label in pairs:
            rows.append({"question_id": len(rows) + 1, "image": image, "text": f"Is there a {obj} in the image?",
                         "label": label})
    return rows


def hf_split(split: str, start: int) -> Dataset:
    rows = records(split)
    return Dataset.from_dict({
        "id": [str(start + n) for n in range(len(rows))],
        "question_id": [str(r["question_id"]) for r in rows],
        "question": [r["text"] for r in rows],
        "answer": [r["label"].lower() for r in rows],
        "image_source": [r["image"].rsplit(".", 1)[0] for r in rows],
        "image": [{"bytes": png(IMAGES.index(r["image"])), "path": r["image"]} for r in rows],
        "category": [split] * len(rows),
    }, features=FEATURES)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("pope")
    (root / "val2014").mkdir()
    for index, name in enumerate(IMAGES):
        (root / "val2014" / name).write_bytes(png(index))
    (root / "files").mkdir()
    for split in SPLITS:  # COCO: JSON lines; GQA (SEEM): indented JSON arrays
        lines = "".join(json.dumps(r) + "\n" for r in records(split))
        (root / "files" / f"coco_pope_{split}.json").write_text(lines)
        (root / "files" / f"gqa_pope_seem_{split}.json").write_text(json.dumps(records(split), indent=4))
    parts = {split: hf_split(split, 1000 * n) for n, split in enumerate(SPLITS)}
    full = DatasetDict(parts)
    from datasets import concatenate_datasets

    default = concatenate_datasets([parts[s] for s in SPLITS])
    default.to_parquet(str(root / "test.parquet"))
    full.save_to_disk(str(root / "disk_full"))
    default.save_to_disk(str(root / "disk_default"))
    snapshot = root / "hub" / "datasets--lmms-lab--POPE" / "snapshots" / "0123abc"
    (snapshot / "data").mkdir(parents=True)
    (snapshot / "Full").mkdir()
    default.to_parquet(str(snapshot / "data" / "test-00000-of-00001.parquet"))
    for split in SPLITS:  # the Full config's split files hold the same rows again
        parts[split].remove_columns("category").to_parquet(str(snapshot / "Full" / f"{split}-00000-of-00001.parquet"))
    return root


def files(root, **kwargs):
    kwargs.setdefault("image_dir", str(root / "val2014"))
    return POPEDataset(path=str(root / "files"), **kwargs).load()


def summary(items):
    return sorted((i.id, i.question, i.answer, i.category, i.prompt_question) for i in items)


@pytest.mark.parametrize("source", ["coco", "gqa"])  # JSON lines and JSON array
def test_question_files_load(root, source):
    items = files(root, source=source)
    assert len(items) == 24 and len({i.id for i in items}) == 24  # question_id 1..8 in every split
    assert [i.category for i in items] == ["random"] * 8 + ["popular"] * 8 + ["adversarial"] * 8
    assert Counter(i.answer for i in items) == {"yes": 12, "no": 12}  # "Yes" normalised
    first = items[0]
    assert first.id == "random-1" and first.task == "pope"
    assert first.group == IMAGES[0] and first.image == str(root / "val2014" / IMAGES[0])
    assert first.meta["question_id"] == 1 and first.meta["image"] == IMAGES[0]
    assert first.question == "Is there a person in the image?"
    assert first.prompt_question == "Is there a person in the image?" + SUFFIX
    assert {i.group for i in items} == set(IMAGES)


def test_split_subset_and_single_file(root):
    assert {i.category for i in files(root, splits=["popular"])} == {"popular"}
    single = POPEDataset(path=str(root / "files" / "gqa_pope_seem_adversarial.json"), source="gqa",
                         image_dir=str(root / "val2014")).load()
    assert len(single) == 8 and single[0].id == "adversarial-1"


@pytest.mark.parametrize("copy", ["test.parquet", "disk_full", "disk_default", "hub",
                                  "hub/datasets--lmms-lab--POPE/snapshots/0123abc"])
def test_hf_copies_match_the_question_files(root, copy, caplog):
    with caplog.at_level(logging.WARNING):
        items = POPEDataset(path=str(root / copy)).load()
    assert summary(items) == summary(files(root))
    assert [i.category for i in items][::8] == list(SPLITS)
    assert items[0].image == png(0)  # encoded bytes passed through, not decoded
    assert items[0].group == IMAGES[0].rsplit(".", 1)[0] and items[0].meta["question_id"] == "1"
    if copy.startswith("hub"):  # data/ and Full/ hold the same rows: kept once, reported
        assert "dropped 24 duplicate row(s)" in caplog.text


def test_hf_split_subset(root):
    items = POPEDataset(path=str(root / "disk_full"), splits=["adversarial", "random"]).load()
    assert [i.category for i in items] == ["adversarial"] * 8 + ["random"] * 8


def test_unknown_split_source_or_format(root):
    with pytest.raises(ConfigError, match="dataset.splits.*unknown.*'rand'.*random, popular, adversarial"):
        POPEDataset(splits=["rand"])
    with pytest.raises(ConfigError, match="source='vqa'.*coco, aokvqa, gqa"):
        POPEDataset(source="vqa")
    with pytest.raises(ConfigError, match="format='csv'.*auto, hf, files"):
        POPEDataset(format="csv")
    with pytest.raises(DatasetError, match="holds the COCO questions only"):
        POPEDataset(path=str(root / "disk_full"), source="gqa").load()


def test_missing_files_name_what_exists(root, tmp_path):
    shutil.copy(root / "files" / "coco_pope_random.json", tmp_path)
    expected = "source=coco split=popular.*coco_pope_popular.json.*found: coco_pope_random"
    with pytest.raises(DatasetError, match=expected):
        POPEDataset(path=str(tmp_path), image_dir=str(root / "val2014")).load()
    with pytest.raises(DatasetError, match="source=aokvqa split=random.*aokvqa_pope_seem_random.json"):
        files(root, source="aokvqa")
    with pytest.raises(DatasetError, match="no rows of split"):
        hf_split("random", 0).to_parquet(str(tmp_path / "r.parquet"))
        POPEDataset(path=str(tmp_path / "r.parquet")).load()
    with pytest.raises(DatasetError, match="no such file or folder"):
        POPEDataset(path=str(tmp_path / "nothing"), format="files", image_dir=str(tmp_path)).load()


def test_image_dir_checks(root, tmp_path, caplog):
    with pytest.raises(DatasetError, match="image_dir is required"):
        POPEDataset(path=str(root / "files"), format="files").load()
    with pytest.raises(DatasetError, match="no such folder"):
        files(root, image_dir=str(tmp_path / "missing"))
    (tmp_path / "other.jpg").write_bytes(png(0))
    with pytest.raises(DatasetError, match="none of the 2 images.*holds other.jpg"):
        files(root, image_dir=str(tmp_path))
    shutil.copy(root / "val2014" / IMAGES[0], tmp_path)
    with caplog.at_level(logging.WARNING):
        assert len(files(root, image_dir=str(tmp_path))) == 24  # missing images become error rows later
    assert "1 of 2 images are missing" in caplog.text


def test_bad_records_name_the_line(tmp_path):
    record = {"question_id": 1, "image": "a.jpg", "text": "t", "label": "maybe"}
    (tmp_path / "coco_pope_random.json").write_text(json.dumps(record) + "\n")
    (tmp_path / "a.jpg").write_bytes(png(0))
    with pytest.raises(DatasetError, match=r"coco_pope_random.json:1: question_id 1: label 'maybe'"):
        POPEDataset(path=str(tmp_path), splits=["random"], image_dir=str(tmp_path)).load()
    (tmp_path / "coco_pope_random.json").write_text('{"question_id": 1, "image": "a.jpg", "label": "yes"}\n')
    with pytest.raises(DatasetError, match=r"coco_pope_random.json:1: missing key\(s\) text"):
        POPEDataset(path=str(tmp_path), splits=["random"], image_dir=str(tmp_path)).load()
    (tmp_path / "coco_pope_random.json").write_text('{"question_id": 1,\n')
    with pytest.raises(DatasetError, match=r"coco_pope_random.json:1: not valid JSON"):
        POPEDataset(path=str(tmp_path), splits=["random"], image_dir=str(tmp_path)).load()


@needs_shared("pope")
@pytest.mark.parametrize("source", ["coco", "aokvqa", "gqa"])
def test_real_question_files(source, tmp_path):
    names = set()
    for path in SHARED_POPE.glob(f"{source}_pope_*.json"):
        text = path.read_text()
        is_array = text.lstrip().startswith("[")
        rows = json.loads(text) if is_array else [json.loads(x) for x in text.splitlines() if x]
        names |= {r["image"] for r in rows}
    for name in names:  # empty stand-ins: the adapter only checks that the files exist
        (tmp_path / name).touch()
    items = POPEDataset(path=str(SHARED_POPE), source=source, image_dir=str(tmp_path)).load()
    assert len(items) == 9000 and len({i.id for i in items}) == 9000
    for split in SPLITS:
        part = [i for i in items if i.category == split]
        assert len(part) == 3000 and len({i.group for i in part}) == 500
        assert Counter(i.answer for i in part) == {"yes": 1500, "no": 1500}


@needs_shared("pope/llava_v15_eval_version")
def test_llava_v15_eval_version_loads(tmp_path):
    for line in (SHARED_POPE / "llava_v15_eval_version" / "coco_pope_random.json").read_text().splitlines():
        (tmp_path / json.loads(line)["image"]).touch()
    items = POPEDataset(path=str(SHARED_POPE / "llava_v15_eval_version"), splits=["random"],
                        image_dir=str(tmp_path)).load()
    assert len(items) == 2910 and Counter(i.answer for i in items) == {"yes": 1500, "no": 1410}


def test_hydra_config_composes_and_builds_the_adapter(root):
    import evalkit.__main__  # noqa: F401  (registers the schemas and the evalkit_asset resolver)
    from hydra import compose, initialize_config_dir

    from datasets_adapters.pope import POPEDatasetConfig
    from evalkit.config import ConfigError, conf_dir
    from evalkit.registry import validate
    from evalkit.items import load_items

    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        default = compose(config_name="config", overrides=["dataset=pope"])
        cfg = compose(config_name="config", overrides=[
            "dataset=pope", f"dataset.path={root / 'files'}", f"dataset.image_dir={root / 'val2014'}",
            "dataset.source=gqa", "dataset.splits=[popular]"])
        bad = compose(config_name="config", overrides=["dataset=pope", "dataset.splits=[random,rnd]"])
    typed = validate(default).dataset
    assert isinstance(typed, POPEDatasetConfig)
    assert (typed.path, typed.format, typed.source, typed.splits, typed.image_dir) == (
        "lmms-lab/POPE", "auto", "coco", list(SPLITS), None)
    assert typed.question_suffix == SUFFIX
    with pytest.raises(ConfigError, match="random, popular, adversarial"):
        validate(bad)
    items = load_items(cfg.dataset, limit=None)
    assert len(items) == 8 and {i.category for i in items} == {"popular"}
