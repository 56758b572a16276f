"""Image loading and LLaVA-1.5's square padding, kept apart from the model so a bad file becomes an
error row (the caller catches) and so workers can decode in parallel."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Optional, Sequence

from PIL import Image, ImageOps


# Images with more pixels than this are refused (an error row); None: Pillow's decompression-bomb
# threshold (Image.MAX_IMAGE_PIXELS). The run sets it from the `max_image_pixels` config key.
MAX_PIXELS: Optional[int] = None


class IncompleteImage(ValueError):
    pass


def pixel_limit() -> Optional[int]:
    return MAX_PIXELS if MAX_PIXELS is not None else Image.MAX_IMAGE_PIXELS


def load_image(ref) -> Image.Image:
    """Decode an image reference (path, bytes, a datasets {'bytes','path'} dict, or a PIL image) to RGB.

    EXIF orientation is applied (phones store rotated pixels), every mode is converted to RGB,
    and pixels are fully read here so truncated files fail now, not inside the processor: a PNG
    whose compressed data ends before its last row (Pillow fills the rest with black) is refused,
    and so is an image over the pixel limit (`pixel_limit`).
    """
    data = None
    if isinstance(ref, Image.Image):
        image = ref
    elif isinstance(ref, (bytes, bytearray)):
        data = bytes(ref)
        image = Image.open(io.BytesIO(ref))
    elif isinstance(ref, dict) and (ref.get("bytes") or ref.get("path")):
        return load_image(ref["bytes"] if ref.get("bytes") else ref["path"])
    elif isinstance(ref, (str, Path)):
        image = Image.open(Path(ref))
    else:
        raise TypeError(f"unsupported image reference of type {type(ref).__name__}")
    limit = pixel_limit()
    width, height = image.size
    if limit and width * height > limit:
        raise ValueError(f"image of {width}x{height} = {width * height} pixels is over the limit of {limit} "
                         "(max_image_pixels)")
    image.load()
    if image.format == "PNG":
        check_png_complete(data if data is not None else Path(ref).read_bytes())
    image = ImageOps.exif_transpose(image)
    return to_rgb(image)


_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def check_png_complete(data: bytes) -> None:
    """Raise IncompleteImage when a PNG's image data decompresses to fewer bytes than its header's
    rows need (Pillow decodes such a file without error and leaves the missing rows black)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return
    pos, header, decompressor, produced = 8, None, zlib.decompressobj(), 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body[:13])
        elif kind == b"IDAT":
            try:
                while body:  # decompressed in bounded pieces: a bomb is never held whole
                    produced += len(decompressor.decompress(body, 1 << 20))
                    body = decompressor.unconsumed_tail
            except zlib.error as exc:
                raise IncompleteImage(f"PNG image data is corrupt ({exc})") from None
        elif kind == b"IEND":
            break
    if header is None:
        return
    width, height, depth, colour, _, _, interlace = header
    bits = depth * _CHANNELS.get(colour, 4)
    if interlace:
        passes = [((width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy) for x0, y0, dx, dy in _ADAM7]
    else:
        passes = [(width, height)]
    needed = sum(h * (1 + (w * bits + 7) // 8) for w, h in passes if w and h)
    if produced < needed:
        rows = produced // (1 + (width * bits + 7) // 8) if not interlace else None
        where = f" (about {rows} of {height} rows)" if rows is not None else ""
        raise IncompleteImage(f"PNG image data is short: {produced} of {needed} bytes{where}; the rest would "
                              "load as black")


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
