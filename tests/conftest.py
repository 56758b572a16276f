"""Shared fixtures: tiny LLaVA / LLaVA-NeXT checkpoints built from config (random weights with a
wide init so answers vary) and a small yes/no file with real PNG images of mixed aspect ratios."""

from __future__ import annotations

import json
import os
from pathlib import Path

# One thread per process: tests start several processes (torchrun ranks, CLI subprocesses) on a
# 2-core machine, and oversubscribed torch threads make them several times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
from PIL import Image, ImageDraw

import torch

from evalkit.tools.tiny import save_tiny

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
HALLUSIONBENCH = SHARED / "data" / "hallusionbench"  # the official HallusionBench.json + a result sample

# (width, height): square, wide, tall, extreme ratios — each picks a different anyres grid.
IMAGE_SIZES = [(336, 336), (640, 360), (360, 640), (1100, 808), (900, 200), (220, 700), (500, 500), (1008, 336)]
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]


@pytest.fixture(scope="session", autouse=True)
def own_evalkit_cache(tmp_path_factory):
    """Tests never write the user's ~/.cache/evalkit (conversions, weight fingerprints, COCO ground truth): each test
    session has its own, which the processes it starts inherit."""
    previous = os.environ.get("EVALKIT_CACHE")
    os.environ["EVALKIT_CACHE"] = str(tmp_path_factory.mktemp("evalkit_cache"))
    yield
    if previous is None:
        os.environ.pop("EVALKIT_CACHE", None)
    else:
        os.environ["EVALKIT_CACHE"] = previous


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_ckpt")
    return {family: save_tiny(family, root / family, seed=0, init_std=0.4) for family in ("llava15", "llava16")}


@pytest.fixture(scope="session")
def tiny_letters_checkpoint(tmp_path_factory) -> Path:
    """A tiny LLaVA-1.5 whose tokenizer has option letters as tokens (decoding=choice_logits)."""
    return save_tiny("llava15", tmp_path_factory.mktemp("tiny_letters") / "llava15", seed=0, init_std=0.4, letters=True)


def draw_image(width: int, height: int, colour: str, index: int) -> Image.Image:
    image = Image.new("RGB", (width, height), (30 + 20 * index, 90, 160 - 10 * index))
    draw = ImageDraw.Draw(image)
    r = min(width, height) // 4
    cx, cy = (width // 3 + 13 * index) % width, (height // 2 + 7 * index) % height
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    draw.rectangle((width - r, height - r, width - 1, height - 1), fill="white")
    return image


@pytest.fixture(scope="session")
def yesno_file(tmp_path_factory) -> Path:
    """16 questions over 8 PNG images in images/, paths relative to the JSONL file."""
    root = tmp_path_factory.mktemp("yesno")
    (root / "images").mkdir()
    rows = []
    for i, ((w, h), colour) in enumerate(zip(IMAGE_SIZES, COLOURS)):
        name = f"images/img{i}.png"
        draw_image(w, h, colour, i).save(root / name)
        other = COLOURS[(i + 3) % len(COLOURS)]
        rows.append({"id": f"q{i}a", "image": name, "question": f"Is there a {colour} circle in the image?",
                     "answer": "yes", "category": "colour", "group": f"img{i}"})
        rows.append({"id": f"q{i}b", "image": name, "question": f"Is there a {other} circle in the image?",
                     "answer": "no", "category": "colour" if i % 2 else "existence", "group": f"img{i}"})
    path = root / "questions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def hallusionbench_set(tmp_path):
    """write(select) -> path of a HallusionBench.json holding the official rows `select(records)`
    picks, with a small PNG at each row's `filename` (the real images are not in ../shared)."""
    questions = HALLUSIONBENCH / "HallusionBench.json"
    if not questions.is_file():
        pytest.skip("HallusionBench reference data not present")
    records = json.loads(questions.read_text(encoding="utf-8"))

    def write(select) -> Path:
        rows = select(records)
        for r in rows:
            if r["filename"]:
                image = tmp_path / r["filename"].removeprefix("./")
                image.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (40, 30), (200, 30, 30)).save(image)
        path = tmp_path / "HallusionBench.json"
        path.write_text(json.dumps(rows), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def nltk_data(tmp_path_factory) -> Path:
    """A minimal NLTK data directory (tests/support/nltk_minimal.py), first on nltk.data.path and in
    NLTK_DATA for subprocesses. Without Debian's WordNet files the test is skipped locally and fails
    in CI (`CI` set), where .ci/run installs them."""
    nltk = pytest.importorskip("nltk")
    from support import nltk_minimal

    try:
        root = nltk_minimal.build(tmp_path_factory.mktemp("nltk_data"))
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    nltk.data.path.insert(0, str(root))
    os.environ["NLTK_DATA"] = os.pathsep.join(filter(None, [str(root), os.environ.get("NLTK_DATA")]))
    return root


@pytest.fixture(scope="session")
def amber_nlp(tmp_path_factory) -> Path:
    """A tiny spaCy pipeline with word vectors for AMBER's similarity check (tests/support/amber_fixture.py)."""
    pytest.importorskip("spacy")
    from support import amber_fixture

    return amber_fixture.spacy_pipeline(tmp_path_factory.mktemp("amber_nlp"))


def pytest_collection_modifyitems(config, items):
    """Tests that get ../shared/data through a fixture carry the `shared_data` marker too."""
    for item in items:
        if "hallusionbench_set" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared_data)
