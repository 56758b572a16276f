"""The fast image preprocessing (evalkit/models/pixels.py) gives the HF PIL processors' pixels bit
for bit, on both families, over the aspect ratios and odd sizes the processors branch on, and
leaves to the processor what it does not know."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoProcessor

from datasets_adapters.shapes import ShapesDataset
from evalkit.images import expand_to_square
from evalkit.models.pixels import FastPixels, _equal, process_images

KWARGS = {"llava15": {"return_tensors": "pt"}, "llava16": {"do_pad": True, "return_tensors": "pt"}}
# odd sizes: 1 px, a tall strip, a wide strip, one pixel off the tile, exact tiles, large
SIZES = [(1, 1), (7, 3), (337, 335), (500, 2000), (2000, 120), (336, 336), (672, 336), (1333, 999)]


@pytest.fixture(scope="module")
def images():
    scenes = {it.group: it.image for it in ShapesDataset(split="eval", n_images=8, tasks=["pope"]).load()}
    rng = np.random.default_rng(0)
    noise = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in SIZES]
    return list(scenes.values()) + noise


def processor(tiny_checkpoints, family):
    p = AutoProcessor.from_pretrained(tiny_checkpoints[family])
    if family == "llava15":
        p.image_processor.do_pad = False  # as the wrapper sets it (it pads to a square itself)
    return p


@pytest.mark.parametrize("family,aspect", [("llava15", "pad"), ("llava15", "crop"), ("llava16", "anyres")])
def test_pixels_and_token_counts_equal_the_processor(tiny_checkpoints, images, family, aspect):
    p = processor(tiny_checkpoints, family)
    fast = FastPixels(p, KWARGS[family])
    assert fast.settings is not None, "the shipped processors are ones the fast path knows"
    for image in images:
        if aspect == "pad":
            image = expand_to_square(image, p.image_processor.image_mean)
        ours, theirs = fast._fast(image), p._process_images([image], **KWARGS[family])
        assert ours is not None and _equal(ours, theirs), image.size
        assert ours[0]["pixel_values"].dtype == torch.float32


def test_unknown_settings_and_images_go_to_the_processor(tiny_checkpoints, images):
    p = processor(tiny_checkpoints, "llava15")
    assert FastPixels(p, {"return_tensors": "pt", "do_normalize": False}).settings is None
    fast = FastPixels(p, KWARGS["llava15"])
    grey = images[0].convert("L")
    assert fast.process(grey) is None  # not RGB: the processor converts it
    ours = process_images(fast, p, grey, KWARGS["llava15"])
    assert _equal(ours, p._process_images([grey], **KWARGS["llava15"]))


def test_a_difference_on_the_first_image_turns_the_fast_path_off(tiny_checkpoints, images, caplog):
    p = processor(tiny_checkpoints, "llava15")
    fast = FastPixels(p, KWARGS["llava15"])
    fast.table = fast.table + 1e-3  # a deliberately wrong table
    with caplog.at_level(logging.WARNING, logger="evalkit.models.pixels"):
        first = fast.process(images[0])
    assert fast.verified is False and "differs" in caplog.text
    assert _equal(first, p._process_images([images[0]], **KWARGS["llava15"]))  # the processor's pixels
    assert fast.process(images[1]) is None  # and the processor for the rest of the process
