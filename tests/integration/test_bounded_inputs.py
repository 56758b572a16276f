"""Inputs are bounded and decoded completely: a PNG short on pixel data, an image over the pixel
limit and a prompt longer than the model's context each become an error row naming the cause."""

from __future__ import annotations

import dataclasses
import struct
import zlib

import pytest
from PIL import Image

from evalkit import images
from evalkit.decoding.greedy import Greedy
from evalkit.images import IncompleteImage, load_image
from evalkit.models.llava import LlavaModel
from evalkit.runner import iterate_predictions
from evalkit.types import Item


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def short_png(width: int = 64, height: int = 480, rows: int = 10) -> bytes:
    """A valid PNG whose (complete, well-formed) compressed data holds only `rows` of its rows."""
    raw = b"".join(b"\x00" + bytes([200, 50, 50]) * width for _ in range(rows))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw))
            + _chunk(b"IEND", b""))


def test_png_short_on_pixel_data_is_refused(tmp_path):
    path = tmp_path / "short.png"
    path.write_bytes(short_png())
    with pytest.raises(IncompleteImage, match="10 of 480 rows"):
        load_image(path)
    with pytest.raises(IncompleteImage):
        load_image(path.read_bytes())
    whole = tmp_path / "whole.png"
    Image.new("RGB", (64, 480), (1, 2, 3)).save(whole)
    Image.new("RGB", (37, 21), (1, 2, 3)).save(tmp_path / "interlaced.png", interlace=1)
    assert load_image(whole).size == (64, 480) and load_image(tmp_path / "interlaced.png").size == (37, 21)


def test_pixel_limit_is_configurable(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 50_000)
    with pytest.raises(ValueError, match="60000 pixels is over the limit of 50000"):
        load_image(path)
    monkeypatch.setattr(images, "MAX_PIXELS", None)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 59_999)  # the default follows Pillow's threshold
    with pytest.raises(ValueError, match="over the limit of 59999"):
        load_image(path)


@pytest.fixture(scope="module")
def tiny_model(tiny_checkpoints):
    return LlavaModel(name="t", path=str(tiny_checkpoints["llava15"]), family="llava15", device="cpu")


def test_bad_images_and_long_prompts_are_error_rows(tiny_model, yesno_file, tmp_path, monkeypatch):
    from datasets_adapters.yesno_files import YesNoFileDataset

    items = YesNoFileDataset(str(yesno_file)).load()[:2]
    (tmp_path / "short.png").write_bytes(short_png())
    items.append(dataclasses.replace(items[0], id="short", image=str(tmp_path / "short.png")))
    long_question = "Is there " + "a very red circle " * 2000 + "?"
    items.append(dataclasses.replace(items[1], id="long", question=long_question, prompt_question=long_question))
    positions = tiny_model.config.text_config.max_position_embeddings
    rows = {p.item_id: p for batch, _ in iterate_predictions(items, tiny_model, Greedy(max_new_tokens=2), 4)
            for p in batch}
    assert rows[items[0].id].error is None and rows[items[1].id].error is None
    assert "IncompleteImage" in rows["short"].error and "of 480 rows" in rows["short"].error
    assert f"exceeds the model's context of {positions} positions" in rows["long"].error
    assert "tokens (" in rows["long"].error  # both numbers named
