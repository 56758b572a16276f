"""MME adapter: the HF schema (parquet, save_to_disk, hub cache) and the official release folder give
the same items; LLaVA's prompt convention; pairing checks; errors that name what exists."""

from __future__ import annotations

import io
import logging
import shutil

import pytest
from datasets import Dataset, DatasetDict, Features, Image, Value
from PIL import Image as PILImage

from datasets_adapters.mme import MMEDataset, llava_question
from evalkit.errors import ConfigError, DatasetError

SUFFIX = "\nAnswer the question using a single word or phrase."
# (subtask, image file, [(question, answer)]) in the released spelling; artwork uses images/ + questions_answers_YN/.
IMAGES = [
    ("existence", "000000006040.jpg", [("Is there a train in this image? Please answer yes or no.", "Yes"),
                                       ("Is there a bed in this image? Please answer yes or no.", "No")]),
    ("existence", "000000018150.jpg", [("Is there a bus in this image?  Please answer yes or no.", "Yes"),
                                       ("Is there a cow in this image?  Please answer yes or no.", "No")]),
    ("OCR", "0001.png", [("Is the word in the logo \"angie's\"? Please answer yes or no.", "Yes"),
                         ("Is the word in the logo \"angle's\"? Please answer yes or no.", "No")]),
    ("artwork", "10002.jpg", [("Is this artwork created by maris, jacob? Please answer yes or no.", "Yes"),
                              ("Is this artwork created by hartung? Please answer yes or no.", "No")]),
    ("artwork", "10049.jpg", [("Does this artwork exist in the form of painting? Please answer yes or no.", "No"),
                              ("Does this artwork exist in the form of mosaic? Please answer yes or no.", "Yes")]),
]
FEATURES = Features({"question_id": Value("string"), "image": Image(), "question": Value("string"),
                     "answer": Value("string"), "category": Value("string")})


def png(index: int) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (8 + index, 6), (40 * index % 256, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def hf_dataset(images=IMAGES) -> Dataset:
    columns = {k: [] for k in FEATURES}
    for index, (subtask, name, qas) in enumerate(images):
        for question, answer in qas:
            columns["question_id"].append(f"{subtask}/{name}")
            columns["image"].append({"bytes": png(index), "path": name})
            columns["question"].append(question)
            columns["answer"].append(answer)
            columns["category"].append(subtask)
    return Dataset.from_dict(columns, features=FEATURES)


def write_release(root, images=IMAGES):
    """MME_Benchmark_release_version/ in both official layouts."""
    for index, (subtask, name, qas) in enumerate(images):
        folder = root / subtask
        split = subtask == "artwork"
        image_dir, text_dir = (folder / "images", folder / "questions_answers_YN") if split else (folder, folder)
        image_dir.mkdir(parents=True, exist_ok=True)
        text_dir.mkdir(parents=True, exist_ok=True)
        (image_dir / name).write_bytes(png(index))
        stem = name.rsplit(".", 1)[0]
        (text_dir / f"{stem}.txt").write_text("".join(f"{q}\t{a}\n" for q, a in qas), encoding="utf-8")
    (root / "eval_tool").mkdir(exist_ok=True)
    (root / "eval_tool" / "calculation.py").write_text("# official scorer\n")
    return root


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """The same data as a parquet folder, a parquet file, save_to_disk (Dataset and DatasetDict), a hub cache
    and the release folder (nested one level down, as the zip unpacks)."""
    root = tmp_path_factory.mktemp("mme")
    dataset = hf_dataset()
    (root / "parquet").mkdir()
    dataset.select(range(4)).to_parquet(str(root / "parquet" / "test-00000-of-00002.parquet"))
    dataset.select(range(4, len(dataset))).to_parquet(str(root / "parquet" / "test-00001-of-00002.parquet"))
    dataset.to_parquet(str(root / "one.parquet"))
    dataset.save_to_disk(str(root / "disk"))
    DatasetDict({"test": dataset}).save_to_disk(str(root / "disk_dict"))
    repo = root / "hub" / "datasets--lmms-lab--MME"
    (repo / "snapshots" / "abc123" / "data").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    shutil.copy(root / "one.parquet", repo / "snapshots" / "abc123" / "data" / "test-00000-of-00001.parquet")
    write_release(root / "download" / "MME_Benchmark_release_version")
    return root


def load(path, **kwargs):
    return MMEDataset(path=str(path), **kwargs).load()


def summary(items):
    return [(i.id, i.question, i.answer, i.category, i.group, i.prompt_question, i.meta["question_id"]) for i in items]


@pytest.mark.parametrize("copy", ["parquet", "one.parquet", "disk", "disk_dict", "hub",
                                  "hub/datasets--lmms-lab--MME", "download", "download/MME_Benchmark_release_version"])
def test_every_copy_gives_the_same_items(copies, copy):
    items = load(copies / copy)
    expected = sorted(summary(load(copies / "parquet")), key=lambda r: r[0])
    assert sorted(summary(items), key=lambda r: r[0]) == expected
    assert len(items) == 10 and len({i.id for i in items}) == 10
    assert {i.task for i in items} == {"mme"}
    assert {i.answer for i in items} == {"yes", "no"}  # "Yes"/"No" normalised
    first = next(i for i in items if i.id == "existence/000000006040.jpg#0")
    assert first.answer == "yes" and first.group == "existence/000000006040.jpg"
    assert first.meta["question_id"] == "existence/000000006040.jpg"


def test_hf_images_pass_through_encoded(copies):
    items = load(copies / "parquet")
    assert all(isinstance(i.image, bytes) for i in items)
    assert items[0].image == png(0)
    with PILImage.open(io.BytesIO(items[0].image)) as image:
        assert image.size == (8, 6)


def test_release_folder_references_image_files(copies):
    items = load(copies / "download", source="folder")
    paths = {i.group: i.image for i in items}
    assert paths["artwork/10002.jpg"].endswith("artwork/images/10002.jpg")
    assert paths["OCR/0001.png"].endswith("OCR/0001.png")
    assert all(PILImage.open(p).size[1] == 6 for p in paths.values())


def test_llava_prompt_strips_both_space_variants(copies):
    by_id = {i.id: i for i in load(copies / "parquet")}
    single, double = by_id["existence/000000006040.jpg#0"], by_id["existence/000000018150.jpg#0"]
    assert single.question == "Is there a train in this image? Please answer yes or no."
    assert single.prompt_question == "Is there a train in this image?" + SUFFIX
    assert double.question == "Is there a bus in this image?  Please answer yes or no."
    assert double.prompt_question == "Is there a bus in this image?" + SUFFIX
    assert llava_question("What is it?") == "What is it?"


def test_original_prompt_style_keeps_the_question(copies):
    items = load(copies / "parquet", prompt_style="original", question_suffix="")
    assert all(i.prompt_question == i.question for i in items)
    item = load(copies / "parquet", prompt_style="original", question_suffix=" Be brief.")[0]
    assert item.prompt_question == item.question + " Be brief."


def test_groups_pair_one_yes_and_one_no(copies, caplog):
    with caplog.at_level(logging.WARNING):
        dataset = MMEDataset(path=str(copies / "disk"))
        items = dataset.load()
    groups = {}
    for item in items:
        groups.setdefault(item.group, []).append(item.answer)
    assert len(groups) == 5 and all(sorted(a) == ["no", "yes"] for a in groups.values())
    assert dataset.unpaired_groups == [] and "lack exactly one yes" not in caplog.text


def test_bad_pairs_are_reported_not_guessed(tmp_path, caplog):
    images = IMAGES[:3] + [
        ("count", "a.jpg", [("Are there two dogs? Please answer yes or no.", "Yes"),
                            ("Are there three dogs? Please answer yes or no.", "Yes")]),
        ("count", "b.jpg", [("Is there one cat? Please answer yes or no.", "No")]),
    ]
    hf_dataset(images).to_parquet(str(tmp_path / "mme.parquet"))
    with caplog.at_level(logging.WARNING):
        dataset = MMEDataset(path=str(tmp_path / "mme.parquet"))
        items = dataset.load()
    assert len(items) == 9  # nothing dropped: the scorer leaves these images out of acc+
    assert sorted(dataset.unpaired_groups) == ["count/a.jpg", "count/b.jpg"]
    assert "2 image(s) lack exactly one yes and one no" in caplog.text
    assert "count/a.jpg" in caplog.text


def test_categories_select_subtasks(copies):
    for copy in ("parquet", "download"):
        items = load(copies / copy, categories=["artwork", "ocr"])  # case of OCR does not matter
        assert {i.category for i in items} == {"artwork", "OCR"} and len(items) == 6


@pytest.mark.parametrize("copy", ["parquet", "download"])
def test_unknown_category_lists_the_existing_ones(copies, copy):
    with pytest.raises(DatasetError, match="unknown MME subtask.*'existance'.*has: artwork, existence, OCR"):
        load(copies / copy, categories=["existence", "existance"])


def test_duplicate_files_in_a_copy_are_dropped_with_a_warning(copies, tmp_path, caplog):
    shutil.copytree(copies / "parquet", tmp_path / "p")
    shutil.copy(copies / "one.parquet", tmp_path / "p" / "old-duplicate.parquet")
    with caplog.at_level(logging.WARNING):
        items = load(tmp_path / "p")
    assert len(items) == 10 and "dropped 10 duplicate row(s)" in caplog.text


def test_bad_inputs_name_the_file(copies, tmp_path):
    with pytest.raises(DatasetError, match="no such file or folder"):
        load(tmp_path / "missing")
    with pytest.raises(DatasetError, match="not an MME release folder"):
        load(tmp_path, source="folder")
    with pytest.raises(DatasetError, match="no parquet files"):
        (tmp_path / "empty").mkdir()
        load(tmp_path / "empty", source="hf")
    with pytest.raises(ConfigError, match="prompt_style='plain'.*llava, original"):
        MMEDataset(prompt_style="plain")
    release = write_release(tmp_path / "release", IMAGES[:1])
    (release / "existence" / "000000006040.txt").write_text("Is there a train?\tMaybe\n")
    with pytest.raises(DatasetError, match=r"000000006040.txt:1: question_id .* 'Maybe' is not Yes/No"):
        load(release)
    (release / "existence" / "000000006040.txt").write_text("Is there a train? Yes\n")
    with pytest.raises(DatasetError, match=r"000000006040.txt:1: expected 'question<TAB>answer'"):
        load(release)
    (release / "existence" / "000000006040.jpg").unlink()
    with pytest.raises(DatasetError, match=r"000000006040.txt: no image named 000000006040"):
        load(release)
    Dataset.from_dict({"question_id": ["a"], "question": ["q"]}).to_parquet(str(tmp_path / "x.parquet"))
    with pytest.raises(DatasetError, match="missing column.*image, answer, category"):
        load(tmp_path / "x.parquet")


def test_hydra_config_composes_and_builds_the_adapter(copies):
    import evalkit.__main__  # noqa: F401  (registers the schemas and the evalkit_asset resolver)
    from hydra import compose, initialize_config_dir

    from datasets_adapters.mme import MMEDatasetConfig
    from evalkit.config import ConfigError, conf_dir
    from evalkit.registry import validate
    from evalkit.items import load_items

    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        default = compose(config_name="config", overrides=["dataset=mme"])
        cfg = compose(config_name="config", overrides=[
            "dataset=mme", f"dataset.path={copies / 'disk'}", "dataset.categories=[OCR,existence]"])
        bad = compose(config_name="config", overrides=["dataset=mme", "dataset.prompt_style=plain"])
    typed = validate(default).dataset
    assert isinstance(typed, MMEDatasetConfig)
    assert (typed.path, typed.source, typed.categories, typed.prompt_style) == ("lmms-lab/MME", "auto", [], "llava")
    assert typed.question_suffix == SUFFIX
    with pytest.raises(ConfigError, match="llava, original"):
        validate(bad)
    items = load_items(cfg.dataset, limit=None)
    assert len(items) == 6 and {i.category for i in items} == {"OCR", "existence"}
