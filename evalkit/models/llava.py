"""One wrapper for LLaVA-1.5 ("pad", LlavaForConditionalGeneration) and LLaVA-1.6 ("anyres",
LlavaNextForConditionalGeneration): load with every override applied to BOTH the model config and
the processor, preprocess one item, collate a left-padded batch, generate, decode.

The same code path loads `llava-hf/llava-1.5-7b-hf` on a GPU and a tiny local checkpoint on CPU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from PIL import Image

from evalkit.images import expand_to_square
from evalkit.models.prompts import render_prompt

log = logging.getLogger(__name__)

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
class PreparedInput:
    """One item after preprocessing: tensors without a batch dimension, plus what to record."""

    prompt: str
    input_ids: torch.Tensor  # [L]
    pixel_values: torch.Tensor  # llava15: [3, H, W]; llava16: [n_tiles, 3, H, W]
    image_size: Optional[torch.Tensor]  # llava16: [2] (height, width) of the original image


class LlavaModel:
    def __init__(
        self,
        name: str,
        path: str,
        family: str,
        prompt: str = "llava_eval",
        vision_feature_layer: Any = None,
        vision_feature_select_strategy: Optional[str] = None,
        image_grid_pinpoints: Optional[Sequence[Sequence[int]]] = None,
        image_aspect_ratio: str = "pad",
        revision: Optional[str] = None,
        device: str = "auto",
        dtype: str = "auto",
    ):
        from transformers import AutoConfig, AutoProcessor

        self.name, self.path, self.family, self.prompt_name = name, str(path), family, prompt
        self.image_aspect_ratio = image_aspect_ratio
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)

        config = AutoConfig.from_pretrained(self.path, revision=revision)
        self.processor = AutoProcessor.from_pretrained(self.path, revision=revision)
        self._apply_overrides(config, vision_feature_layer, vision_feature_select_strategy, image_grid_pinpoints)
        self.config = config
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"  # right padding silently changes batched answers
        if self.tokenizer.pad_token_id is None:
            raise ValueError(f"{self.path}: the tokenizer has no pad token; batched generation needs one")

        model_cls = self._model_class(config)
        self.model = model_cls.from_pretrained(self.path, config=config, revision=revision, dtype=self.dtype)
        self.model.to(self.device).eval()

    # -- loading -------------------------------------------------------------------------------
    def _model_class(self, config):
        from transformers import LlavaForConditionalGeneration, LlavaNextForConditionalGeneration

        expected = {"llava15": ("llava", LlavaForConditionalGeneration),
                    "llava16": ("llava_next", LlavaNextForConditionalGeneration)}[self.family]
        if config.model_type != expected[0]:
            raise ValueError(
                f"model.family={self.family} expects a '{expected[0]}' checkpoint, but {self.path} is "
                f"'{config.model_type}'; set model.family to match the checkpoint"
            )
        return expected[1]

    def _apply_overrides(self, config, layer, strategy, pinpoints) -> None:
        """Apply ablation overrides consistently: the processor decides how many image tokens the
        prompt gets, the model how many features it produces; they must agree."""
        processor, image_processor = self.processor, self.processor.image_processor
        if layer is not None:
            config.vision_feature_layer = list(layer) if isinstance(layer, (list, tuple)) else int(layer)
        if strategy is not None:
            config.vision_feature_select_strategy = strategy
        processor.vision_feature_select_strategy = config.vision_feature_select_strategy
        # Older processor configs lack these; without them the token count is wrong.
        if getattr(processor, "patch_size", None) is None:
            processor.patch_size = config.vision_config.patch_size
        if getattr(processor, "num_additional_image_tokens", 0) == 0 and "clip" in config.vision_config.model_type:
            processor.num_additional_image_tokens = 1  # CLIP's CLS token
        if self.family == "llava16":
            if pinpoints is not None:
                config.image_grid_pinpoints = [list(map(int, p)) for p in pinpoints]
            image_processor.image_grid_pinpoints = config.image_grid_pinpoints
        if hasattr(image_processor, "do_pad") and self.family == "llava15":
            image_processor.do_pad = False  # we pad ourselves (LLaVA's expand2square) when asked

    def describe(self) -> dict:
        """What determines this model's answers (recorded in summary.json)."""
        out = {
            "name": self.name,
            "path": self.path,
            "family": self.family,
            "prompt": self.prompt_name,
            "vision_feature_layer": self.config.vision_feature_layer,
            "vision_feature_select_strategy": self.config.vision_feature_select_strategy,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
        }
        if self.family == "llava16":
            out["image_grid_pinpoints"] = self.config.image_grid_pinpoints
        else:
            out["image_aspect_ratio"] = self.image_aspect_ratio
        return out

    # -- per item --------------------------------------------------------------------------------
    def render_prompt(self, question: str) -> str:
        return render_prompt(self.prompt_name, question, self.processor)

    def num_image_tokens(self, image_hw: Optional[tuple[int, int]]) -> int:
        """Image tokens the processor will insert for an image of this size (for length-aware
        batching); 0 when unknown."""
        if image_hw is None:
            return 0
        if self.family == "llava15" and self.image_aspect_ratio == "pad":
            side = max(image_hw)
            image_hw = (side, side)
        try:
            return int(self.processor._get_num_multimodal_tokens(image_sizes=[image_hw]).num_image_tokens[0])
        except Exception:  # private API; length grouping only needs an estimate
            return 0

    def prepare(self, image: Image.Image, question: str) -> PreparedInput:
        if self.family == "llava15" and self.image_aspect_ratio == "pad":
            image = expand_to_square(image, self.processor.image_processor.image_mean)
        prompt = self.render_prompt(question)
        enc = self.processor(images=[image], text=[prompt], return_tensors="pt")
        return PreparedInput(
            prompt=prompt,
            input_ids=enc["input_ids"][0],
            pixel_values=enc["pixel_values"][0],
            image_size=enc["image_sizes"][0] if "image_sizes" in enc else None,
        )

    # -- per batch -------------------------------------------------------------------------------
    def collate(self, inputs: Sequence[PreparedInput]) -> dict:
        """Left-pad input ids (with the attention mask) and stack pixels; LLaVA-NeXT tiles are
        zero-padded to the batch maximum, which the model ignores (it unpads by image_sizes)."""
        pad_id = self.tokenizer.pad_token_id
        length = max(x.input_ids.shape[0] for x in inputs)
        input_ids = torch.full((len(inputs), length), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(inputs), length), dtype=torch.long)
        for row, x in enumerate(inputs):
            n = x.input_ids.shape[0]
            input_ids[row, length - n:] = x.input_ids
            attention_mask[row, length - n:] = 1
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.family == "llava16":
            tiles = max(x.pixel_values.shape[0] for x in inputs)
            pixels = torch.zeros((len(inputs), tiles, *inputs[0].pixel_values.shape[1:]))
            for row, x in enumerate(inputs):
                pixels[row, : x.pixel_values.shape[0]] = x.pixel_values
            batch["pixel_values"] = pixels
            batch["image_sizes"] = torch.stack([x.image_size for x in inputs])
        else:
            batch["pixel_values"] = torch.stack([x.pixel_values for x in inputs])
        return batch

    @torch.inference_mode()
    def generate(self, batch: dict, max_new_tokens: int, do_sample: bool = False,
                 temperature: float = 1.0, top_p: float = 1.0, num_beams: int = 1) -> list[str]:
        batch = {k: v.to(self.device) for k, v in batch.items()}
        batch["pixel_values"] = batch["pixel_values"].to(self.dtype)
        sampling = dict(temperature=temperature, top_p=top_p) if do_sample else {}
        output = self.model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            num_beams=num_beams,
            pad_token_id=self.tokenizer.pad_token_id,
            **sampling,
        )
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        return self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)


def load_checkpoint_path(path: str | Path) -> str:
    """Local directories are used as they are; anything else is a hub id for from_pretrained."""
    candidate = Path(path).expanduser()
    return str(candidate) if candidate.exists() else str(path)
