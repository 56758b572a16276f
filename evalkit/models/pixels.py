"""LLaVA's image preprocessing with the HF PIL processors' own arithmetic, without their round trips.

`CLIPImageProcessorPil` (LLaVA-1.5) and `LlavaNextImageProcessorPil` (LLaVA-1.6) turn the PIL image
into a numpy array, back into a PIL image for every resize (a 336-px tile too, where the resize is a
copy), then rescale in float64 and normalise in float32 array by array. Profiled on the shipped
checkpoints, those conversions and float passes are about half of the processor's time; the PIL
resize itself is the other half. This module runs the same steps in the same order with the same
functions where they matter (PIL's resize, HF's size, best-resolution, padding and crop arithmetic)
and replaces the two float passes by a lookup: every output value is a function of one uint8 input
value and its channel, so HF's own `rescale` and `normalize` are applied once to the 256 values of
each channel and indexed. Pixels are bit-identical to the processor's (tested on both families over
aspect ratios and sizes); anything outside the settings it knows (another processor class, padding
crops, disabled steps, a non-RGB image) goes to the processor itself, and so does every image of a
process whose first image did not come out bit-identical (checked once per process, logged).
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np
import torch
from PIL import Image

log = logging.getLogger("evalkit.models.pixels")
KNOWN = ("CLIPImageProcessorPil", "LlavaNextImageProcessorPil")


class FastPixels:
    """`process(image)` -> the processor's `(BatchFeature, replacements)` for one image, or None
    where the processor itself must run. Built once per model from its processor and kwargs."""

    def __init__(self, processor, images_kwargs: dict):
        self.processor = processor
        self.kwargs = dict(images_kwargs)
        self.settings = _settings(processor.image_processor, self.kwargs)
        self.table = _lookup_table(self.settings) if self.settings else None
        self.verified: Optional[bool] = None  # per process: None until the first image is compared

    def process(self, image: Image.Image):
        if self.settings is None or image.mode != "RGB" or self.verified is False:
            return None
        fast = self._fast(image)
        if fast is None:
            return None
        if self.verified is None:
            slow = self.processor._process_images([image], **self.kwargs)
            self.verified = _equal(fast, slow)
            if not self.verified:
                log.warning("fast image preprocessing differs from %s on the first image; using the processor",
                            type(self.processor.image_processor).__name__)
                return slow
        return fast

    def _fast(self, image: Image.Image):
        from transformers.feature_extraction_utils import BatchFeature

        s = self.settings
        if s["anyres"]:
            tiles = _anyres_tiles(image, s)
            if tiles is None:
                return None
            arrays = [self._finish(t) for t in tiles]
            if any(a is None for a in arrays):
                return None
            data = {"pixel_values": np.array(arrays)[None], "image_sizes": [(image.height, image.width)]}
        else:
            array = self._finish(image)
            if array is None:
                return None
            data = {"pixel_values": array[None]}
        processed = BatchFeature(data=data, tensor_type=self.kwargs.get("return_tensors", "pt"))
        return processed, [self.processor.replace_image_token(processed, image_idx=0, **self.kwargs)]

    def _finish(self, image) -> Optional[np.ndarray]:
        """One image or tile (PIL or HWC uint8): the processor's resize, centre crop, rescale and
        normalise -> [3, H, W] float32."""
        from transformers.image_transforms import get_resize_output_image_size
        from transformers.image_utils import ChannelDimension

        s = self.settings
        array = image if isinstance(image, np.ndarray) else None
        h, w = array.shape[:2] if array is not None else (image.height, image.width)
        if s["do_resize"]:
            shape = np.broadcast_to(np.zeros((), np.uint8), (3, h, w))
            if s["shortest_edge"] is not None:
                height, width = get_resize_output_image_size(shape, size=s["shortest_edge"], default_to_square=False,
                                                             input_data_format=ChannelDimension.FIRST)
            else:
                height, width = s["size_hw"]
            if (height, width) != (h, w):  # PIL's resize to the same size is a copy: skipped
                source = image if array is None else Image.fromarray(array)
                image, array = source.resize((width, height), resample=s["resample"]), None
        if array is None:
            array = np.asarray(image)
        if s["do_center_crop"]:
            crop_h, crop_w = s["crop_hw"]
            top, left = (array.shape[0] - crop_h) // 2, (array.shape[1] - crop_w) // 2
            if top < 0 or left < 0:
                return None  # the processor pads a crop larger than the image: leave it to it
            array = array[top: top + crop_h, left: left + crop_w]
        return np.stack([self.table[c][array[..., c]] for c in range(3)])


def _settings(image_processor, kwargs: dict) -> Optional[dict]:
    """The steps the fast path reproduces, or None where it does not know the processor's."""
    name = type(image_processor).__name__
    if name not in KNOWN or set(kwargs) - {"return_tensors", "do_pad"}:
        return None

    def get(key):
        return kwargs.get(key, getattr(image_processor, key, None))

    if not (get("do_rescale") and get("do_normalize")) or get("resample") is None:
        return None
    size, crop = get("size"), get("crop_size")
    anyres = name == "LlavaNextImageProcessorPil"
    if anyres and not (get("image_grid_pinpoints") and get("do_pad") is not False):
        return None
    if not anyres and get("do_pad"):
        return None
    return {
        "anyres": anyres, "do_resize": bool(get("do_resize")), "resample": int(get("resample")),
        "shortest_edge": size.shortest_edge, "size_hw": (size.height, size.width),
        "do_center_crop": bool(get("do_center_crop")), "crop_hw": (crop.height, crop.width) if crop else None,
        "rescale_factor": get("rescale_factor"), "mean": get("image_mean"), "std": get("image_std"),
        "pinpoints": get("image_grid_pinpoints"),
    } if (size.shortest_edge or (size.height and size.width)) and (crop or not get("do_center_crop")) else None


def _lookup_table(s: dict) -> np.ndarray:
    """[3, 256] float32: HF's own `rescale` then `normalize` applied to every uint8 value of each
    channel, laid out as a channels-first image of one row, exactly as the processor calls them."""
    from transformers.image_transforms import normalize, rescale
    from transformers.image_utils import ChannelDimension

    values = np.broadcast_to(np.arange(256, dtype=np.uint8), (3, 1, 256)).copy()
    first = ChannelDimension.FIRST
    out = rescale(values, s["rescale_factor"], data_format=first, input_data_format=first)
    out = normalize(out, s["mean"], s["std"], data_format=first, input_data_format=first)
    return np.ascontiguousarray(out[:, 0, :])


def _anyres_tiles(image: Image.Image, s: dict) -> Optional[list]:
    """LLaVA-NeXT's `get_image_patches`: the whole image at the base size (PIL), then the image
    resized to its best pinpoint (aspect kept), zero-padded to it and cut into tiles (arrays)."""
    from transformers.image_processing_utils import get_patch_output_size, select_best_resolution
    from transformers.image_utils import ChannelDimension

    if s["size_hw"][0] and s["size_hw"][1]:
        base_hw = s["size_hw"]
    else:
        base_hw = (s["shortest_edge"], s["shortest_edge"])
    if s["crop_hw"] and s["crop_hw"][0]:
        tile = s["crop_hw"][0]
    else:
        tile = base_hw[0]
    shape = np.broadcast_to(np.zeros((), np.uint8), (3, image.height, image.width))
    best = select_best_resolution((image.height, image.width), s["pinpoints"])
    new_h, new_w = get_patch_output_size(shape, best, input_data_format=ChannelDimension.FIRST)
    resized = np.asarray(image.resize((new_w, new_h), resample=s["resample"]))
    pad_y, pad_x = (best[0] - new_h) // 2, (best[1] - new_w) // 2
    padded = np.zeros((best[0], best[1], 3), np.uint8)
    padded[pad_y: pad_y + new_h, pad_x: pad_x + new_w] = resized
    tiles = [padded[i: i + tile, j: j + tile] for i in range(0, best[0], tile) for j in range(0, best[1], tile)]
    base = image.resize((base_hw[1], base_hw[0]), resample=s["resample"])
    return [base, *tiles]


def _equal(fast, slow) -> bool:
    (a, ra), (b, rb) = fast, slow
    if ra != rb or set(a.keys()) != set(b.keys()):
        return False
    pairs = [(torch.as_tensor(a[k]), torch.as_tensor(b[k])) for k in a.keys()]
    return all(x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y) for x, y in pairs)


def process_images(fast: Optional[FastPixels], processor, image: Image.Image, kwargs: dict) -> Any:
    """`processor._process_images([image], **kwargs)`, by the fast path where it applies."""
    result = fast.process(image) if fast is not None else None
    return result if result is not None else processor._process_images([image], **kwargs)
