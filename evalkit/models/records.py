"""Typed records of one prepared image / item, and device and dtype resolution (shared by the
LLaVA wrapper and its helpers; kept apart so llava.py stays readable)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda was requested but torch sees no CUDA device")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":  # LLaVA evaluates in fp16; CPUs are slow and inexact at half precision
        return torch.float16 if device.type == "cuda" else torch.float32
    return _DTYPES[dtype]


@dataclass(frozen=True)
class PreparedImage:
    """One image after preprocessing, shared by every question about it in a batch. With the
    feature cache on and a hit, `features` holds the cached tensor and there are no pixels."""

    n_tokens: int  # image tokens the prompt gets (= rows of the image's features)
    pixel_values: Optional[torch.Tensor]  # llava15: [3, H, W]; llava16: [n_tiles, 3, H, W]
    image_size: Optional[torch.Tensor]  # llava16: [2] (height, width) of the original image
    key: Optional[str] = None  # feature-cache key; None when the cache is off
    features: Optional[torch.Tensor] = None  # [n_tokens, hidden], a cache hit held by reference


@dataclass(frozen=True)
class PreparedInput:
    """One item after preprocessing: tensors without a batch dimension, plus what to record."""

    prompt: str
    input_ids: torch.Tensor  # [L]
    image: PreparedImage
    question: str = ""  # the question the prompt was rendered from (negative prompts re-render it)

    pixel_values = property(lambda self: self.image.pixel_values)
    image_size = property(lambda self: self.image.image_size)
