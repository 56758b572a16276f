"""Negative inputs for contrastive decoders (evalkit.models.interface.NegativeSpec), built from a
collated LLaVA batch, and the join of the positive and negative prefill states into one state of
2B rows, so each decode step is one forward.

- noised_image (VCD, DAMO-NLP-SG/VCD `vcd_utils/vcd_add_noise.py`): the preprocessed image tensor
  (normalised pixels, every LLaVA-NeXT tile) taken `noise_step` steps along a diffusion forward
  process of 1000 steps whose betas follow a sigmoid over [-6, 6] scaled into [1e-5, 5e-3]:
  x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps. eps is drawn per item from its own seed, so the
  noise does not depend on batching. The noised image is encoded by the model's own
  get_image_features (never cached: every item's noise differs).
- no_image (M3ID's unconditioned input): the rendered prompt with the image placeholder and the
  newline after it removed, tokenized as text alone; no image features.
- instruction (ICD, p1k0pan/ICD): the real image (its cached features and shared prefix reused)
  with the disturbance instruction as the system text.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from evalkit.models.interface import NEGATIVE_KINDS, DecodeState, NegativeSpec, Step
from evalkit.models.records import PreparedImage, PreparedInput

DIFFUSION_STEPS = 1000


def alphas_bar() -> torch.Tensor:
    """Cumulative products of (1 - beta_t) of VCD's schedule, float32 as VCD computes it."""
    betas = torch.sigmoid(torch.linspace(-6, 6, DIFFUSION_STEPS)) * (0.5e-2 - 1e-5) + 1e-5
    return torch.cumprod(1 - betas, dim=0)


def diffusion_noise(pixels: torch.Tensor, noise_step: int, generator: torch.Generator) -> torch.Tensor:
    """`pixels` after `noise_step` (0..999) forward steps; eps ~ N(0, I) from `generator` (CPU)."""
    if not 0 <= int(noise_step) < DIFFUSION_STEPS:
        raise ValueError(f"noise_step must be in 0..{DIFFUSION_STEPS - 1}, got {noise_step}")
    abar = alphas_bar()[int(noise_step)]
    eps = torch.randn(pixels.shape, generator=generator, dtype=torch.float32)
    return (abar.sqrt() * pixels.float().cpu() + (1 - abar).sqrt() * eps).to(pixels.dtype)


def check_spec(spec: NegativeSpec) -> None:
    if spec.kind not in NEGATIVE_KINDS:
        raise ValueError(f"negative input {spec.kind!r}: choose one of {', '.join(NEGATIVE_KINDS)}")
    if spec.kind == "instruction" and not spec.instruction.strip():
        raise ValueError("negative input 'instruction' needs a disturbance instruction")
    if spec.kind == "noised_image" and not 0 <= int(spec.noise_step) < DIFFUSION_STEPS:
        raise ValueError(f"noise_step must be in 0..{DIFFUSION_STEPS - 1}, got {spec.noise_step}")


def without_image(prompt: str, image_token: str) -> str:
    """The prompt with its image placeholder and the newline right after it removed."""
    if image_token + "\n" in prompt:
        return prompt.replace(image_token + "\n", "", 1)
    return prompt.replace(image_token, "", 1)


def left_padded(rows: Sequence[torch.Tensor], pad_id: int) -> dict:
    length = max(int(r.shape[0]) for r in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, length - r.shape[0]:] = r
        mask[i, length - r.shape[0]:] = 1
    return {"input_ids": ids, "attention_mask": mask}


def negative_inputs(wrapper, batch: dict, spec: NegativeSpec, item_seeds: Sequence[int]) -> dict:
    """HF keyword arguments of the negative rows of `batch` (collated by `wrapper.collate`)."""
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    prepared: Sequence[PreparedInput] = batch["prepared"]
    image_token = wrapper.processor.image_token
    if spec.kind == "no_image":
        rows = [wrapper.tokenizer(without_image(x.prompt, image_token), **wrapper._text_kwargs)["input_ids"][0]
                for x in prepared]
        return {k: v.to(wrapper.device) for k, v in left_padded(rows, wrapper.tokenizer.pad_token_id).items()}
    if spec.kind == "instruction":
        negatives = [wrapper.prepare_text(x.image, x.question, system=spec.instruction) for x in prepared]
        return wrapper._model_inputs(wrapper.collate(negatives), share_prefix=True)
    noised = []
    for x, seed in zip(prepared, item_seeds):
        if x.image.pixel_values is None:
            raise RuntimeError("noised_image negatives need each image's pixels; call model.prepare_negative(spec) "
                               "before preparing items (it keeps pixels beside cached features)")
        generator = torch.Generator().manual_seed(int(seed))
        noised.append(PreparedImage(n_tokens=x.image.n_tokens, image_size=x.image.image_size,
                                    pixel_values=diffusion_noise(x.image.pixel_values, spec.noise_step, generator)))
    features = wrapper._encode(noised)
    ids = {k: batch[k].to(wrapper.device) for k in ("input_ids", "attention_mask")}
    return {**ids, "mm_encoder_outputs": {"image": BaseModelOutputWithPooling(pooler_output=features)}}


def join_states(model, a: Step, b: Step) -> Step:
    """One Step of rows a then b: each side's KV cache and mask left-padded (zeros, masked) to the
    longer side, positions kept per row, so a row attends exactly to what it did alone."""
    from transformers import DynamicCache

    ta, tb = a.state.attention_mask.shape[1], b.state.attention_mask.shape[1]
    width = max(ta, tb)
    cache = DynamicCache(config=model.config)
    for index, (la, lb) in enumerate(zip(a.state.cache.layers, b.state.cache.layers)):
        keys = torch.cat([F.pad(la.keys, (0, 0, width - ta, 0)), F.pad(lb.keys, (0, 0, width - tb, 0))])
        values = torch.cat([F.pad(la.values, (0, 0, width - ta, 0)), F.pad(lb.values, (0, 0, width - tb, 0))])
        cache.update(keys, values, index)
    mask = torch.cat([F.pad(a.state.attention_mask, (width - ta, 0)), F.pad(b.state.attention_mask, (width - tb, 0))])
    positions = torch.cat([a.state.position_ids, b.state.position_ids])
    return Step(logits=torch.cat([a.logits, b.logits]), state=DecodeState(cache, mask, positions))
