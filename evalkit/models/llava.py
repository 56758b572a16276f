"""One wrapper for LLaVA-1.5 ("pad", LlavaForConditionalGeneration) and LLaVA-1.6 ("anyres",
LlavaNextForConditionalGeneration): load with every override applied to BOTH the model config and
the processor, preprocess an image once and each question about it, collate a left-padded batch,
then generate (or score yes/no in one forward pass, or prefill and step for decoders that
own the loop: `start` / `step`, evalkit.models.interface) and decode.

With the feature cache on, image features are computed by the model's own `get_image_features`
once per distinct image and handed to the model as `mm_encoder_outputs`, the hook transformers'
generate uses for pre-encoded images: the model itself scatters them into the embeddings at the
image-token positions (`masked_scatter`, incl. LLaVA-NeXT's packing and image_newline), so the
cached path runs the very code the uncached one does.

The same code path loads `llava-hf/llava-1.5-7b-hf` on a GPU and a tiny local checkpoint on CPU.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Optional, Sequence

import torch
from PIL import Image

from evalkit.images import expand_to_square
from evalkit.models.feature_cache import FeatureCache, cache_settings, feature_settings, settings_digest
from evalkit.models import negatives
from evalkit.models.interface import DecodeState, NegativeSpec, Step
from evalkit.models.overrides import apply_overrides
from evalkit.models.pixels import FastPixels, process_images
from evalkit.models.prefix import cache_keyword, prefix_cache, split_points
from evalkit.models.records import PreparedImage, PreparedInput, resolve_device, resolve_dtype
from evalkit.models.steps import decode_step, prefill
from evalkit.models.prompts import render_prompt
from evalkit.models.choices import option_probs, option_scores, option_token_ids
from evalkit.models.yesno import FirstStepScores, p_yes_from_logits, yes_no_token_ids

log = logging.getLogger(__name__)

__all__ = ["LlavaModel", "PreparedImage", "PreparedInput", "resolve_device", "resolve_dtype"]


class LlavaModel:
    """Implements evalkit.models.interface.Model for both LLaVA families."""

    def __init__(
        self,
        name: str,
        path: str,
        family: Optional[str] = None,
        prompt: str = "llava_eval",
        vision_feature_layer: Any = None,
        vision_feature_select_strategy: Optional[str] = None,
        image_grid_pinpoints: Optional[Sequence[Sequence[int]]] = None,
        image_aspect_ratio: Optional[str] = None,
        revision: Optional[str] = None,
        device: str = "auto",
        dtype: str = "auto",
        feature_cache: Optional[Mapping[str, Any]] = None,
        base: Optional[str] = None,
        vision_tower: Optional[str] = None,
        adapter: Optional[str] = None,
        convert_cache: Optional[str] = None,
    ):
        """`feature_cache`: {enabled, max_items, disk_dir, share_prefix} over model.feature_cache's
        defaults (evalkit.models.feature_cache.FeatureCacheConfig); None (the default): no cache.
        An original-format LLaVA checkpoint (with `base` for a LoRA output) is converted once and
        loaded from the cache (evalkit/models/original.py); `adapter` is a PEFT adapter merged at load."""
        from transformers import AutoConfig, AutoProcessor

        from evalkit.models.convert_weights import resolve_checkpoint
        from evalkit.models.original import settle_family

        self.source, self.adapter = str(path), adapter
        path, self.conversion = resolve_checkpoint(path, base, vision_tower, convert_cache)
        self.name, self.path, self.prompt_name = name, str(path), prompt
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)

        config = AutoConfig.from_pretrained(self.path, revision=revision)
        self.family, self.image_aspect_ratio = settle_family(self.source, config, family, image_aspect_ratio,
                                                             self.conversion)
        self.processor = AutoProcessor.from_pretrained(self.path, revision=revision)
        apply_overrides(config, self.processor, self.family, self.path, vision_feature_layer,
                        vision_feature_select_strategy, image_grid_pinpoints)
        self.config = config
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"  # right padding silently changes batched answers
        if self.tokenizer.pad_token_id is None:
            raise ValueError(f"{self.path}: the tokenizer has no pad token; batched generation needs one")

        self.model = self._load_weights(self._model_class(config), config, revision)
        if adapter:
            from evalkit.models.adapter import merge_adapter

            self.model = merge_adapter(self.model, adapter)
        self.model.to(self.device).eval()

        # The processor's own kwargs, so the split image / text preparation equals processor(...).
        merged = self.processor._merge_kwargs(tokenizer_init_kwargs=self.tokenizer.init_kwargs, return_tensors="pt")
        self._images_kwargs, self._text_kwargs = merged["images_kwargs"], merged["text_kwargs"]
        self._pixels = FastPixels(self.processor, self._images_kwargs)  # the processor's pixels, faster
        self.configure_cache(feature_cache)
        self.counters = {"vision_encodes": 0}  # images run through the vision tower
        self._yes_no: Optional[dict] = None
        self._options: dict[tuple[str, ...], dict] = {}
        self._fast_tokenize: Optional[bool] = None  # decided on the first prompt
        self.keep_pixels = False  # set by prepare_negative: noised negatives need pixels on cache hits too

    def configure_cache(self, options: Optional[Mapping[str, Any]]) -> None:
        """Turn the feature cache on/off (a fresh, empty one), e.g. {"enabled": True}; None: off."""
        self.cache_settings = cache_settings(options)
        self.feature_cache: Optional[FeatureCache] = None
        if self.cache_settings["enabled"]:
            self.feature_cache = FeatureCache(
                settings_digest(feature_settings(self)), max_items=self.cache_settings["max_items"],
                disk_dir=self.cache_settings["disk_dir"], device=self.device,
            )

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

    def _load_weights(self, model_cls, config, revision):
        """The checkpoint's weights (evalkit.tools.gpu_check builds random ones here instead)."""
        return model_cls.from_pretrained(self.path, config=config, revision=revision, dtype=self.dtype)

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
        if self.conversion is not None:
            out["converted_from"] = {k: self.conversion[k] for k in ("source", "base", "vision_tower", "key")}
        if self.adapter:
            out["adapter"] = self.adapter
        out["feature_cache"] = dict(self.cache_settings)
        if self._yes_no is not None:
            out["yes_no_tokens"] = {side: sorted(ids.values()) for side, ids in self._yes_no.items()}
        return out

    # -- per item --------------------------------------------------------------------------------
    def render_prompt(self, question: str, system: Optional[str] = None) -> str:
        return render_prompt(self.prompt_name, question, self.processor, system=system)

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
        return self.prepare_text(self.prepare_image(image), question)

    def prepare_image(self, image: Image.Image) -> PreparedImage:
        """The image half of `processor(images, text)`, done once per image: a cache hit skips
        the pixel preprocessing too (on LLaVA-NeXT that is 5 tiles of resizing and normalising)."""
        key = None
        if self.feature_cache is not None:
            key = self.feature_cache.key(image)  # before square padding: the aspect mode is in the key
            # A DataLoader worker holds a stale forked copy of the cache, and CUDA tensors cannot
            # cross the fork: workers only preprocess, the main process looks the key up later.
            in_worker = torch.utils.data.get_worker_info() is not None
            hit = None if in_worker else self.feature_cache.get(key)
            if hit is not None and not self.keep_pixels:
                return PreparedImage(n_tokens=int(hit.shape[0]), pixel_values=None, image_size=None,
                                     key=key, features=hit)
        if self.family == "llava15" and self.image_aspect_ratio == "pad":
            image = expand_to_square(image, self.processor.image_processor.image_mean)
        processed, replacements = process_images(self._pixels, self.processor, image, self._images_kwargs)
        return PreparedImage(
            n_tokens=replacements[0].count(self.processor.image_token),
            pixel_values=processed["pixel_values"][0],
            image_size=processed["image_sizes"][0] if "image_sizes" in processed else None,
            key=key,
            features=hit if key is not None else None,
        )

    def prepare_text(self, image: PreparedImage, question: str, system: Optional[str] = None) -> PreparedInput:
        """The text half: the prompt with <image> expanded to the image's token count, tokenized
        exactly as the processor does (tests check equality with processor(images, text));
        `system` replaces the template's system text (ICD's negative input)."""
        prompt = self.render_prompt(question, system=system)
        if prompt.count(self.processor.image_token) != 1:
            raise ValueError(f"prompt template {self.prompt_name!r} must contain one {self.processor.image_token}")
        return PreparedInput(prompt=prompt, input_ids=self._tokenize(prompt, image.n_tokens), image=image,
                             question=question)

    def _tokenize(self, prompt: str, n_tokens: int) -> torch.Tensor:
        """Tokenizing the prompt with one <image> and repeating its id is ~10x cheaper than
        tokenizing thousands of <image> strings; the first call checks it gives the processor's
        ids, and a tokenizer where it does not keeps the processor's way."""
        def processor_way():
            text, _ = self.processor.get_text_with_replacements([prompt], [self.processor.image_token * n_tokens])
            return self.tokenizer(text, **self._text_kwargs)["input_ids"][0]

        if self._fast_tokenize is False:
            return processor_way()
        short = self.tokenizer([prompt], **self._text_kwargs)["input_ids"][0]
        at = int((short == self.model.config.image_token_id).nonzero()[0])
        fast = torch.cat([short[:at], short[at : at + 1].repeat(n_tokens), short[at + 1 :]])
        if self._fast_tokenize is None:
            slow = processor_way()
            self._fast_tokenize = torch.equal(fast, slow)
            return slow
        return fast

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
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "prepared": tuple(inputs)}
        if self.feature_cache is not None:
            batch["images"] = [x.image for x in inputs]  # encoded (or found) at generate time
            return batch
        return {**batch, **self._stack_pixels([x.image for x in inputs])}

    def _stack_pixels(self, images: Sequence[PreparedImage]) -> dict:
        if self.family == "llava15":
            return {"pixel_values": torch.stack([x.pixel_values for x in images])}
        tiles = max(x.pixel_values.shape[0] for x in images)
        pixels = torch.zeros((len(images), tiles, *images[0].pixel_values.shape[1:]))
        for row, x in enumerate(images):
            pixels[row, : x.pixel_values.shape[0]] = x.pixel_values
        return {"pixel_values": pixels, "image_sizes": torch.stack([x.image_size for x in images])}

    def _model_inputs(self, batch: dict, share_prefix: bool = False) -> dict:
        """Keyword arguments for the HF model: pixels (cache off), pre-encoded features (cache
        on), or with `share_prefix` the padded ids plus a KV cache of each image's prefix."""
        inputs = {k: batch[k].to(self.device) for k in ("input_ids", "attention_mask")}
        if "images" not in batch:
            inputs["pixel_values"] = batch["pixel_values"].to(self.device, self.dtype)
            if "image_sizes" in batch:
                inputs["image_sizes"] = batch["image_sizes"].to(self.device)
            self.counters["vision_encodes"] += int(batch["input_ids"].shape[0])
            return inputs
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        images = batch["images"]
        features = self._image_features(images)
        if share_prefix and self.cache_settings["share_prefix"]:
            rows = [ids[m.bool()] for ids, m in zip(batch["input_ids"], batch["attention_mask"])]
            keys = [image.key for image in images]
            points = split_points(rows, keys, self.model.config.image_token_id)
            if points is not None:
                shared = prefix_cache(self.model, rows, keys, points, dict(zip(keys, features)),
                                      self.tokenizer.pad_token_id, self.device)
                return {"input_ids": shared.input_ids, "attention_mask": shared.attention_mask,
                        cache_keyword(self.model): shared.cache}
        inputs["mm_encoder_outputs"] = {"image": BaseModelOutputWithPooling(pooler_output=features)}
        return inputs

    def _image_features(self, images: Sequence[PreparedImage]) -> list[torch.Tensor]:
        """Features per row: held hits, then the cache (an earlier batch, the first half of an
        out-of-memory split, or a worker-prepared image), then one vision-tower call for the
        distinct images still missing."""
        assert self.feature_cache is not None
        found: dict[str, torch.Tensor] = {}
        missing: dict[str, PreparedImage] = {}
        for image in images:
            if image.key in found or image.key in missing:
                continue
            features = image.features
            if features is None:
                features = self.feature_cache.get(image.key, count_miss=False)
            if features is not None:
                found[image.key] = features
            else:
                missing[image.key] = image
        if missing:
            for key, features in zip(missing, self._encode(list(missing.values()))):
                self.feature_cache.put(key, features)
                found[key] = features
        return [found[image.key] for image in images]

    def _encode(self, images: list[PreparedImage]) -> list[torch.Tensor]:
        """The model's own get_image_features (feature layer, select strategy, projector and, for
        LLaVA-NeXT, anyres packing with image_newline) on a batch of distinct images."""
        stacked = self._stack_pixels(images)
        pixels = stacked.pop("pixel_values").to(self.device, self.dtype)
        extra = {k: v.to(self.device) for k, v in stacked.items()}
        out = self.model.model.get_image_features(pixel_values=pixels, return_dict=True, **extra)
        self.counters["vision_encodes"] += len(images)
        # Own storage per image: a view would keep the whole batch's tensor alive in the cache.
        return [f.clone() for f in out.pooler_output]

    def yes_no_tokens(self) -> dict[str, dict[int, str]]:
        if self._yes_no is None:
            self._yes_no = yes_no_token_ids(self.tokenizer)
        return self._yes_no

    def eos_token_ids(self) -> list[int]:
        """The tokens that end an answer, as generate stops on them (the generation config's)."""
        eos = self.model.generation_config.eos_token_id
        eos = self.tokenizer.eos_token_id if eos is None else eos
        return [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])]

    def _p_yes(self, logits: torch.Tensor) -> list[float]:
        return p_yes_from_logits(logits, *(sorted(self.yes_no_tokens()[side]) for side in ("yes", "no")))

    @torch.inference_mode()
    def generate(self, batch: dict, max_new_tokens: int, do_sample: bool = False, temperature: float = 1.0,
                 top_p: float = 1.0, num_beams: int = 1, with_p_yes: bool = False):
        """Decoded new text per row; with `with_p_yes`, (texts, p_yes per row), p_yes read from the
        first step's scores of greedy decoding (None for sampling and beam search)."""
        # A prefix cache cannot follow beam search's reordering of rows; beams use the plain path.
        inputs = self._model_inputs(batch, share_prefix=num_beams == 1)
        sampling = dict(temperature=temperature, top_p=top_p) if do_sample else {}
        capture = FirstStepScores() if with_p_yes and not do_sample and num_beams == 1 else None
        if capture is not None:
            from transformers import LogitsProcessorList

            sampling["logits_processor"] = LogitsProcessorList([capture])
        output = self.model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            num_beams=num_beams,
            pad_token_id=self.tokenizer.pad_token_id,
            **sampling,
        )
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        if not with_p_yes:
            return texts
        p_yes: list = [None] * len(texts)
        if capture is not None and capture.scores is not None:
            try:
                p_yes = self._p_yes(capture.scores)
            except ValueError as exc:  # a tokenizer without yes/no tokens: greedy still works
                log.warning("no p_yes for greedy answers: %s", exc)
        return texts, p_yes

    @torch.inference_mode()
    def choice_probs(self, batch: dict, options: Sequence[Sequence[str]]) -> list[list[float]]:
        """P(option | the row's options) at the answer position from one forward pass, no
        generation: the prefill of `start` without keeping a cache, so it is greedy decoding's
        first-step distribution restricted to each row's options (evalkit/models/choices.py)."""
        logits = prefill(self.model, self._model_inputs(batch, share_prefix=True), use_cache=False).logits
        out = []
        for row, labels in enumerate(options):
            ids = self.option_tokens(tuple(labels))
            scores = option_scores(logits[row:row + 1], [sorted(ids[label]) for label in labels])
            out.append(option_probs(scores)[0].tolist())
        return out

    def option_tokens(self, labels: tuple[str, ...]) -> dict[str, dict[int, str]]:
        """The tokens of each option (cached per option set; a clash fails before any batch)."""
        if labels not in self._options:
            self._options[labels] = option_token_ids(self.tokenizer, labels)
        return self._options[labels]

    def start(self, batch: dict) -> Step:
        """Prefill through generate's input path (feature cache, shared prefix): the next-token
        logits [B, V] of every row and the state `step` continues from."""
        return prefill(self.model, self._model_inputs(batch, share_prefix=True))

    def step(self, state: DecodeState, next_tokens: torch.Tensor) -> Step:
        """One decode step: `next_tokens` [B] fed on top of `state` (finished rows feed padding)."""
        return decode_step(self.model, state, next_tokens)

    def prepare_negative(self, spec: NegativeSpec) -> None:
        """Before the first item: check the spec; noised images need pixels even on cache hits."""
        negatives.check_spec(spec)
        self.keep_pixels = self.keep_pixels or spec.kind == "noised_image"

    def start_contrast(self, batch: dict, spec: NegativeSpec, item_seeds: Sequence[int]) -> Step:
        """Prefill the positive rows (as `start`: feature cache, shared prefix) and their negative
        variants (evalkit.models.negatives), joined into one state of 2B rows, positive first."""
        positive = self.start(batch)
        negative = prefill(self.model, negatives.negative_inputs(self, batch, spec, item_seeds))
        return negatives.join_states(self.model, positive, negative)
