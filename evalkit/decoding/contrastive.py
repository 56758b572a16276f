"""Contrastive hallucination-mitigation decoding (VCD, ICD, M3ID and their controls) over the
model's step API, batched, seeded per item.

One step, for next-token logits l (real input) and l' (negative input, NegativeSpec):
    c = (1 + alpha_t) * l - alpha_t * l'                      (the contrast; skipped at alpha_t = 0)
    c[l < log(beta) + max(l)] = -inf                          (adaptive plausibility: keep tokens whose
                                                               probability under l is >= beta * the max)
then temperature / top-p (HF's warpers, as `sample`) and a draw from the row's own generator, or
the argmax. alpha_t is `alpha`, or with `schedule: m3id` M3ID's weight (1 - g_t) / g_t with
g_t = exp(-lambda * t), t = 1 for the first new token. (VCD's `vcd_sample.py` combines raw
logits; M3ID writes it over log-probabilities: the same distribution, as log-softmax only shifts a
row by a constant.)

The positive and negative rows run as one forward of 2B rows per step (`model.start_contrast`),
each side with its own KV cache for the whole answer (VCD's code once reused the positive cache
after the first token); the prefill runs twice (the positive side with the feature cache and the
shared image prefix, the negative side with its own input). `negative: none` runs no negative at
all: the plausibility mask alone (the `apc_sample` control), which alpha = 0 with any negative
must equal. Sampling draws and the image noise come from separate per-item streams of
(seed, item id), so answers depend on neither batching nor the other settings' draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Optional

import torch

from evalkit.decoding.base import Decoded, DecodeBatch, DecodingConfig, DecodingMethod
from evalkit.decoding.steploop import (argmax_rows, decode_texts, draw_rows, item_generators, item_seed, run_steps,
                                      sampling_warpers)
from evalkit.errors import ConfigError
from evalkit.models.interface import NEGATIVE_KINDS, NegativeSpec
from evalkit.models.yesno import decision, p_yes_from_logits

SCHEDULES = ("constant", "m3id")
# ICD's disturbance instruction of the "confused detector" kind (p1k0pan/ICD, gen_scripts/icd_llava_pope.py).
ICD_INSTRUCTION = "You are a confused objects detector to provide a fuzzy overview or impression of the image."


@dataclass
class ContrastConfig(DecodingConfig):
    """The contrast and the mask, shared by the generating and the yes/no variant."""

    negative: str = "noised_image"  # noised_image | no_image | instruction | none (the mask alone)
    alpha: float = 1.0
    beta: float = 0.1  # 0: no plausibility mask
    noise_step: int = 500  # noised_image: diffusion steps of 1000 (VCD: 500)
    instruction: str = ICD_INSTRUCTION  # instruction: the disturbance instruction (the system text)
    schedule: str = "constant"  # constant: alpha_t = alpha | m3id: alpha_t = exp(m3id_lambda * t) - 1
    m3id_lambda: float = 0.02

    def __post_init__(self):
        if self.negative not in (*NEGATIVE_KINDS, "none"):
            raise ConfigError(f"decoding.negative={self.negative!r}: choose one of {', '.join(NEGATIVE_KINDS)}, none")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"decoding.schedule={self.schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if self.alpha < 0 or not 0 <= self.beta <= 1:
            raise ConfigError(f"decoding: alpha must be >= 0 and beta in [0, 1], got {self.alpha}, {self.beta}")
        if self.negative == "none" and (self.alpha != 0 or self.schedule != "constant"):
            raise ConfigError("decoding.negative=none contrasts with nothing: it needs alpha=0 and schedule=constant")
        if self.schedule == "m3id" and not self.m3id_lambda > 0:
            raise ConfigError(f"decoding.m3id_lambda must be > 0, got {self.m3id_lambda}")
        if not 0 <= self.noise_step < 1000:
            raise ConfigError(f"decoding.noise_step must be in 0..999, got {self.noise_step}")
        if self.negative == "instruction" and not self.instruction.strip():
            raise ConfigError("decoding.negative=instruction needs decoding.instruction (the disturbance text)")


@dataclass
class ContrastiveConfig(ContrastConfig):
    _target_: str = "evalkit.decoding.contrastive.Contrastive"
    name: str = "contrastive"
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: Optional[int] = None  # None: the run's tasks' length (evalkit/generation.py)

    def __post_init__(self):
        super().__post_init__()
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ConfigError(f"decoding.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not (self.temperature > 0 and 0 < self.top_p <= 1):
            raise ConfigError("decoding: sampling needs temperature > 0 and 0 < top_p <= 1")


CONTRAST_KEYS = ("negative", "alpha", "beta", "noise_step", "instruction", "schedule", "m3id_lambda")


class _Contrast(DecodingMethod):
    samples = True  # the noise and (when sampling) the draws come from the seed

    @property
    def spec(self) -> Optional[NegativeSpec]:
        s = self.settings
        if s.negative == "none":
            return None
        return NegativeSpec(s.negative, noise_step=s.noise_step, instruction=s.instruction)

    def prepare(self, model) -> None:
        if self.spec is not None:
            model.prepare_negative(self.spec)

    def alpha_at(self, n: int) -> float:
        """The contrast weight of the (n + 1)-th new token."""
        s = self.settings
        return s.alpha if s.schedule == "constant" else math.expm1(s.m3id_lambda * (n + 1))

    def contrast(self, n: int, logits: torch.Tensor, rows: int) -> torch.Tensor:
        """Masked contrastive scores [rows, V] from a step's logits ([rows] or [2 * rows] rows)."""
        positive = logits[:rows].float()
        alpha = self.alpha_at(n) if self.spec is not None else 0.0
        scores = positive if alpha == 0 else (1 + alpha) * positive - alpha * logits[rows:].float()
        if self.settings.beta > 0:
            cutoff = math.log(self.settings.beta) + positive.max(dim=-1, keepdim=True).values
            scores = scores.masked_fill(positive < cutoff, -math.inf)
        return scores

    def first_step(self, model, batch: DecodeBatch):
        if self.spec is None:
            return model.start(batch.inputs), lambda step, fed: model.step(step.state, fed)
        seeds = [item_seed(batch.seed, i, "noise") for i in batch.item_ids]
        first = model.start_contrast(batch.inputs, self.spec, seeds)
        return first, lambda step, fed: model.step(step.state, torch.cat([fed, fed]))


def p_yes_of(model, scores: torch.Tensor) -> list:
    """P(yes | yes or no) under the masked scores per row; None where the mask removed every yes
    and no token (the ratio is undefined there)."""
    tokens = model.yes_no_tokens()
    yes, no = sorted(tokens["yes"]), sorted(tokens["no"])
    out = []
    for row, p in zip(scores, p_yes_from_logits(scores, yes, no)):
        out.append(None if not torch.isfinite(row[yes + no]).any() else p)
    return out


def _settings_of(cls, decoding: dict):
    """A run's decoding node as this class's settings (keys it does not know left out)."""
    known = {f.name for f in fields(cls.schema)}
    return cls.schema(**{k: v for k, v in decoding.items() if k in known and k != "_target_"})


GREEDY = "evalkit.decoding.greedy.Greedy"
SAMPLE = "evalkit.decoding.sample.Sample"


class Contrastive(_Contrast):
    schema = ContrastiveConfig
    answer_keys = (*CONTRAST_KEYS, "do_sample", "temperature", "top_p", "max_new_tokens")

    @classmethod
    def controls(cls, decoding: dict) -> dict[str, dict]:
        """Greedy; the same sampler without contrast (sampling: decoding=sample at the same
        temperature / top_p); the plausibility mask alone at the same beta (apc_sample). The mask
        alone has no control of its own beyond greedy and the sampler."""
        s = _settings_of(cls, decoding)
        length = {"max_new_tokens": s.max_new_tokens}
        out = {"greedy": {"_target_": GREEDY, "num_beams": 1, **length}}
        if s.do_sample:
            out["sample"] = {"_target_": SAMPLE, "temperature": s.temperature, "top_p": s.top_p, **length}
        if s.negative != "none" and s.beta > 0:
            out["apc"] = {"_target_": f"{cls.__module__}.{cls.__qualname__}", "negative": "none", "beta": s.beta,
                          "do_sample": s.do_sample, **({"temperature": s.temperature, "top_p": s.top_p}
                                                      if s.do_sample else {}), **length}
        return out

    def __init__(self, **settings):
        super().__init__(**settings)
        self.warpers = sampling_warpers(self.settings.temperature, self.settings.top_p)

    def decode(self, model, batch: DecodeBatch) -> Decoded:
        s, rows = self.settings, len(batch.item_ids)
        generators = item_generators(batch.seed, batch.item_ids) if s.do_sample else None
        first_scores: list = [None]

        def pick(n, step, done):
            scores = self.contrast(n, step.logits, rows)
            if n == 0:
                first_scores[0] = scores
            if not s.do_sample:
                return argmax_rows(scores)
            return draw_rows(torch.softmax(self.warpers(None, scores), dim=-1), generators, done)

        first, advance = self.first_step(model, batch)
        tokens = run_steps(first, advance, pick, model.eos_token_ids(), model.tokenizer.pad_token_id,
                           self.max_new_tokens, n_rows=rows)
        texts = decode_texts(model, tokens)
        p_yes: tuple = (None,) * rows
        if not s.do_sample:  # as greedy: p_yes from the first step's scores, where the tokenizer has yes/no
            try:
                p_yes = tuple(p_yes_of(model, first_scores[0]))
            except ValueError:
                pass
        return Decoded(texts, p_yes)


@dataclass
class ContrastiveYesNoConfig(ContrastConfig):
    _target_: str = "evalkit.decoding.contrastive.ContrastiveYesNo"
    name: str = "contrastive_yesno"


class ContrastiveYesNo(_Contrast):
    """The yes/no logit variant: one prefill of both sides, p_yes = P(yes | yes or no) under the
    masked contrastive scores of the first token, answer "Yes" if p_yes >= 0.5 else "No" (the
    contrastive counterpart of decoding=yesno_logits). Rows whose yes and no tokens the mask
    removed answer with the contrastive argmax token instead."""

    schema = ContrastiveYesNoConfig
    answer_keys = CONTRAST_KEYS

    @classmethod
    def controls(cls, decoding: dict) -> dict[str, dict]:
        """The plain yes/no logit read-out, and the mask alone at the same beta."""
        s = _settings_of(cls, decoding)
        out = {"yesno_logits": {"_target_": "evalkit.decoding.yesno_logits.YesNoLogits"}}
        if s.negative != "none" and s.beta > 0:
            out["apc"] = {"_target_": f"{cls.__module__}.{cls.__qualname__}", "negative": "none", "beta": s.beta}
        return out

    def prepare(self, model) -> None:
        model.yes_no_tokens()  # fails here, before any batch, for a tokenizer without yes/no
        super().prepare(model)

    def decode(self, model, batch: DecodeBatch) -> Decoded:
        first, _ = self.first_step(model, batch)
        scores = self.contrast(0, first.logits, len(batch.item_ids))
        p_yes = p_yes_of(model, scores)
        argmax = decode_texts(model, [[t] for t in argmax_rows(scores)])
        texts = tuple(decision(p) if p is not None else a for p, a in zip(p_yes, argmax))
        return Decoded(texts, tuple(p_yes))
