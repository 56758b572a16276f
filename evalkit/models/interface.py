"""The model interface the runner and the decoding methods call, whatever the model family.

Two levels: whole-batch calls (`generate`, `choice_probs`) for the methods that HF's `generate`
serves, and a step-level pair for methods that must see or change every step's logits
(per-row seeded sampling here; contrastive decoders such as VCD later): `start` runs the prefill
through the same input path as `generate` (feature cache, shared image prefix) and returns the
last position's logits plus an opaque state holding the KV cache; `step` feeds one token per row.
Contrastive decoders call `start_contrast`: the positive rows (as `start`) and their negative
variants (NegativeSpec) prefilled, joined into one state of 2B rows (positive first), each row
keeping its own KV cache, so every later `step` is one forward of 2B rows; `prepare_negative`
runs once before the first batch (fail early; keep what the negatives need, e.g. pixels).
Family differences (pixels, tiles, image tokens) stay behind this interface, in the wrapper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Protocol, Sequence, runtime_checkable

import torch


@dataclass(frozen=True)
class DecodeState:
    """What the next step needs; decoders treat it as opaque and pass it back to `step`."""

    cache: Any  # the model's KV cache (a transformers Cache), updated in place by each step
    attention_mask: torch.Tensor  # [B, T] over every position so far (0 = left padding)
    position_ids: torch.Tensor  # [B, 1] position of the last token fed, per row


@dataclass(frozen=True)
class Step:
    logits: torch.Tensor  # [B, V] float logits for the next token of each row
    state: DecodeState


@dataclass(frozen=True)
class NegativeSpec:
    """The negative input a contrastive decoder asks for, beside each row's real one:
    - `noised_image`: the image tensor after `noise_step` steps of the diffusion forward process
      (VCD), noise drawn per item from `item_seeds`;
    - `no_image`: the same prompt rendered with the image placeholder and the newline after it
      removed (M3ID's unconditioned input);
    - `instruction`: the real image with `instruction` as the prompt's system text (ICD's
      disturbance instruction; prepended to the question where a template has no system text)."""

    kind: str
    noise_step: int = 500
    instruction: str = ""


NEGATIVE_KINDS = ("noised_image", "no_image", "instruction")


@runtime_checkable
class Model(Protocol):
    tokenizer: Any
    device: torch.device

    def render_prompt(self, question: str) -> str: ...

    def num_image_tokens(self, image_hw: Optional[tuple[int, int]]) -> int: ...

    def prepare_image(self, image) -> Any: ...

    def prepare_text(self, image, question: str) -> Any: ...

    def collate(self, inputs: Sequence[Any]) -> dict: ...

    def generate(self, batch: dict, max_new_tokens: int, do_sample: bool = False, temperature: float = 1.0,
                 top_p: float = 1.0, num_beams: int = 1, with_p_yes: bool = False): ...

    def choice_probs(self, batch: dict, options: Sequence[Sequence[str]]) -> list[list[float]]: ...

    def option_tokens(self, labels: tuple[str, ...]) -> dict[str, dict[int, str]]: ...

    def yes_no_tokens(self) -> dict[str, dict[int, str]]: ...

    def eos_token_ids(self) -> list[int]: ...

    def start(self, batch: dict) -> Step: ...

    def step(self, state: DecodeState, next_tokens: torch.Tensor) -> Step: ...

    def prepare_negative(self, spec: NegativeSpec) -> None: ...

    def start_contrast(self, batch: dict, spec: NegativeSpec, item_seeds: Sequence[int]) -> Step: ...

    def describe(self) -> dict: ...
