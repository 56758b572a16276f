"""Image loading and LLaVA-1.5's square padding, kept apart from the model so a bad file becomes an
error row (the caller catches) and so workers can decode in parallel."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageOps


def load_image(ref) -> Image.Image:
    """Decode an image reference (path, bytes, a datasets {'bytes','path'} dict, or a PIL image) to RGB.

    EXIF orientation is applied (phones store rotated pixels), every mode is converted to RGB,
    and pixels are fully read here so truncated files fail now, not inside the processor.
    """
    if isinstance(ref, Image.Image):
        image = ref
    elif isinstance(ref, (bytes, bytearray)):
        image = Image.open(io.BytesIO(ref))
    elif isinstance(ref, dict) and (ref.get("bytes") or ref.get("path")):
        return load_image(ref["bytes"] if ref.get("bytes") else ref["path"])
    elif isinstance(ref, (str, Path)):
        image = Image.open(Path(ref))
    else:
        raise TypeError(f"unsupported image reference of type {type(ref).__name__}")
    image.load()
    image = ImageOps.exif_transpose(image)
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale the 16-bit range to 8 bit instead of clipping it to white;
        # files that only use 0..255 (8-bit data in a 16-bit container) are kept as they are.
        high = image.getextrema()[1]
        image = image.convert("I")
        image = (image.point(lambda v: v * 255 / 65535) if high > 255 else image).convert("L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def image_size(ref) -> tuple[int, int] | None:
    """(height, width) read from the header only, or None if it cannot be read (the real load will
    then record the error)."""
    try:
        if isinstance(ref, Image.Image):
            width, height = ref.size
        elif isinstance(ref, dict):
            return image_size(ref.get("bytes") or ref.get("path"))
        else:
            with Image.open(io.BytesIO(ref) if isinstance(ref, (bytes, bytearray)) else Path(ref)) as im:
                width, height = im.size
                if im.getexif().get(0x0112) in (5, 6, 7, 8):  # EXIF orientation swaps the axes
                    width, height = height, width
        return height, width
    except Exception:
        return None


def expand_to_square(image: Image.Image, mean: Sequence[float]) -> Image.Image:
    """LLaVA's `expand2square`: centre the image on a square of the processor's mean colour."""
    width, height = image.size
    background = tuple(int(x * 255) for x in mean)
    if width == height:
        return image
    side = max(width, height)
    result = Image.new(image.mode, (side, side), background)
    result.paste(image, ((side - width) // 2, (side - height) // 2))
    return result
