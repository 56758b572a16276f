"""Write an original-format LLaVA checkpoint (see evalkit/models/original.py) in llava-hf layout.

The steps follow `llava.model.builder.load_pretrained_model` and transformers'
`convert_llava_weights_to_hf.py` / `convert_llava_next_weights_to_hf.py`, with three differences
that keep the answers the original code gives:

- LoRA is merged the way PEFT's `merge_and_unload` does it on the original builder's fp16 CPU
  model: adapter weights cast to the base weight's dtype, delta = (B @ A) * alpha / r computed in
  fp32 and cast back, then added (non_lora_trainables.bin first, with the builder's prefix rules).
- `<image>` is appended after the vocabulary with ZERO embedding / lm_head rows and suppressed in
  the generation config, and the pad token is `<unk>` (LLaVA v1's own choice): the logits of the
  original vocabulary are untouched (the HF conversion scripts add sampled rows and `<pad>`).
- The tokenizer is saved with `legacy=True`, so "<image>\\n" gets SentencePiece's extra "▁" that the
  original `tokenizer_image_token` produces (each chunk tokenized on its own); conversion checks
  the token ids around `<image>` against that function and refuses on any difference.

`.bin` files are read with `torch.load(weights_only=True)` only (tensors, nothing else unpickled),
and nothing uses `trust_remote_code`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Optional

import torch

from evalkit.errors import ConfigError

from evalkit.models.original import (
    CONVERTER_VERSION, MARKER, OriginalCheckpoint, OriginalFormatError, _weight_files, content_key,
    conversion_record, default_cache_dir, inspect_original, is_original, read_json, tokenizer_image_token,
)

log = logging.getLogger(__name__)

TOWER_PREFIX = "model.vision_tower.vision_tower."  # a tuned tower inside the checkpoint (LLaVA-1.6)
PROBE_PROMPT = "A chat. USER: <image>\nIs there a cat? Answer yes or no. ASSISTANT:"


def load_bin(path: Path) -> dict:
    """A .bin state dict: tensors only (weights_only refuses any other pickled object)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise OriginalFormatError(f"{path}: not a plain tensor file (read with weights_only=True): {exc}") from exc


def read_weights(directory: Path, files=None) -> dict:
    from safetensors.torch import load_file

    state: dict = {}
    for file in files or _weight_files(directory):
        state.update(load_file(str(file)) if file.suffix == ".safetensors" else load_bin(file))
    return state


def local_dir(source: str, patterns=("*.json", "*.safetensors", "*.model")) -> Path:
    """A local directory as is; a hub id through the hub cache (only what conversion reads)."""
    if os.path.isdir(source):
        return Path(source)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(source, allow_patterns=list(patterns)))


def merge_lora(state: dict, ckpt: OriginalCheckpoint) -> int:
    """non_lora_trainables.bin, then the adapter merged into `state` in place; returns merged layers."""
    extra = load_bin(ckpt.path / "non_lora_trainables.bin")
    extra = {(k[11:] if k.startswith("base_model.") else k): v for k, v in extra.items()}  # the builder's rules
    if any(k.startswith("model.model.") for k in extra):
        extra = {(k[6:] if k.startswith("model.") else k): v for k, v in extra.items()}
    state.update(extra)
    adapter_file = ckpt.path / "adapter_model.safetensors"
    adapter = read_weights(ckpt.path, [adapter_file if adapter_file.is_file() else ckpt.path / "adapter_model.bin"])
    config = ckpt.lora
    scaling = config["lora_alpha"] / (config["r"] ** 0.5 if config.get("use_rslora") else config["r"])
    pairs: dict = {}
    for key, value in adapter.items():
        stem = key.removeprefix("base_model.model.")
        for part in ("lora_A", "lora_B"):
            if f".{part}." in stem:
                pairs.setdefault(stem.split(f".{part}.")[0], {})[part] = value
                break
        else:
            raise OriginalFormatError(f"{adapter_file}: {key} is not a LoRA A/B weight (modules_to_save / bias "
                                      "adapters are not merged)")
    for target, ab in pairs.items():
        weight_key = target + ".weight"
        if weight_key not in state or set(ab) != {"lora_A", "lora_B"}:
            raise OriginalFormatError(f"{ckpt.path}: LoRA target {target} is not a weight of the base {ckpt.base}")
        weight = state[weight_key]
        a, b = ab["lora_A"].to(weight.dtype), ab["lora_B"].to(weight.dtype)
        delta = (b.float() @ a.float()) * scaling  # peft's CPU path: fp32 product, cast to the weight's dtype
        state[weight_key] = weight + delta.to(weight.dtype)
    return len(pairs)


def hf_state_dict(state: dict, tower_state: dict, ckpt: OriginalCheckpoint) -> dict:
    """Original key names -> transformers 5 Llava / LlavaNext module names; anything unknown refuses."""
    out = {f"model.vision_tower.{k.removeprefix('vision_model.')}": v for k, v in tower_state.items()
           if k.startswith("vision_model.")}
    unknown = []
    for key, value in state.items():
        if key.startswith(TOWER_PREFIX):
            continue
        if key == "lm_head.weight":
            out[key] = value
        elif key == "model.image_newline":
            out[key] = value
        elif key.startswith("model.mm_projector."):
            name = key.removeprefix("model.mm_projector.")
            if ckpt.projector == "linear":
                out[f"model.multi_modal_projector.linear_1.{name}"] = value
            else:
                index, param = name.split(".", 1)
                out[f"model.multi_modal_projector.linear_{ {'0': 1, '2': 2}[index] }.{param}"] = value
        elif key.startswith(("model.embed_tokens.", "model.layers.", "model.norm.")):
            out["model.language_model." + key.removeprefix("model.")] = value
        else:
            unknown.append(key)
    if unknown:
        raise OriginalFormatError(f"{ckpt.path}: weights with no llava-hf place: {', '.join(sorted(unknown)[:5])}"
                                  f"{' ...' if len(unknown) > 5 else ''}")
    if ckpt.projector == "linear":  # llava-hf's projector is linear_1 -> act -> linear_2: identity act and map
        weight = out["model.multi_modal_projector.linear_1.weight"]
        out["model.multi_modal_projector.linear_2.weight"] = torch.eye(weight.shape[0], dtype=weight.dtype)
        out["model.multi_modal_projector.linear_2.bias"] = torch.zeros(weight.shape[0], dtype=weight.dtype)
    return out


def _tower(ckpt: OriginalCheckpoint, state: dict) -> tuple[dict, Path, str]:
    tuned = {k.removeprefix(TOWER_PREFIX): v for k, v in state.items() if k.startswith(TOWER_PREFIX)}
    if tuned:
        return tuned, local_dir(ckpt.vision_tower, ("*.json",)), "checkpoint"
    directory = local_dir(ckpt.vision_tower, ("*.json", "*.safetensors"))
    return read_weights(directory), directory, "vision tower"


def _tokenizer(source: Path):
    from transformers import AutoTokenizer

    if (source / "tokenizer.model").is_file() and not (source / "tokenizer.json").is_file():
        try:
            import google.protobuf  # noqa: F401
            import sentencepiece  # noqa: F401
        except ImportError as exc:
            raise OriginalFormatError(f"{source}: its SentencePiece tokenizer needs `pip install sentencepiece "
                                      "protobuf` (or `pip install evalkit[convert]`)") from exc
    tokenizer = AutoTokenizer.from_pretrained(str(source), legacy=True, add_bos_token=True)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tokenizer.image_token = "<image>"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token  # as LLaVA v1's training and eval do
    tokenizer.padding_side = "left"
    return tokenizer


def check_image_tokens(tokenizer, path) -> None:
    """The ids evalkit feeds around <image> must be the original tokenizer_image_token's."""
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    ours = tokenizer(PROBE_PROMPT).input_ids
    theirs = [image_id if t == -200 else t for t in tokenizer_image_token(PROBE_PROMPT, tokenizer)]
    if ours != theirs:
        raise OriginalFormatError(f"{path}: the converted tokenizer gives {ours} around <image>, the original "
                                  f"tokenizer_image_token {theirs}; refusing a conversion that changes inputs")


def _image_processor_kwargs(tower_dir: Path) -> dict:
    raw = json.loads((tower_dir / "preprocessor_config.json").read_text())
    size, crop = raw.get("size", 336), raw.get("crop_size", 336)
    return dict(
        do_resize=raw.get("do_resize", True), resample=raw.get("resample", 3),
        size=size if isinstance(size, dict) else {"shortest_edge": size},
        do_center_crop=raw.get("do_center_crop", True),
        crop_size=crop if isinstance(crop, dict) else {"height": crop, "width": crop},
        do_rescale=raw.get("do_rescale", True), rescale_factor=raw.get("rescale_factor", 1 / 255),
        do_normalize=raw.get("do_normalize", True), image_mean=raw["image_mean"], image_std=raw["image_std"],
        do_convert_rgb=raw.get("do_convert_rgb", True),
    )


def _processor(ckpt: OriginalCheckpoint, tokenizer, tower_dir: Path, patch_size: int):
    from transformers import LlavaNextProcessor, LlavaProcessor

    kwargs = _image_processor_kwargs(tower_dir)
    if ckpt.family == "llava16":
        from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

        image_processor, cls = LlavaNextImageProcessorPil(**kwargs, image_grid_pinpoints=ckpt.pinpoints_hw,
                                                          do_pad=True), LlavaNextProcessor
    else:
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        image_processor, cls = CLIPImageProcessorPil(**kwargs), LlavaProcessor
    return cls(image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
               vision_feature_select_strategy=ckpt.select_strategy, num_additional_image_tokens=1,
               image_token="<image>")


def _hf_config(ckpt: OriginalCheckpoint, tower_dir: Path, vocab: int, image_id: int, pad_id: int):
    from transformers import CLIPVisionConfig, LlavaConfig, LlavaNextConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    skip = {"architectures", "model_type", "_name_or_path", "transformers_version", "torch_dtype", "dtype",
            "image_aspect_ratio", "image_grid_pinpoints", "tokenizer_model_max_length", "tokenizer_padding_side",
            "freeze_mm_mlp_adapter", "tune_mm_mlp_adapter", "use_mm_proj", "unfreeze_mm_vision_tower"}
    text = {k: v for k, v in ckpt.config.items() if k not in skip and not k.startswith("mm_")}
    if text.get("rope_scaling") is None:
        text.pop("rope_scaling", None)
    text.update(vocab_size=vocab, pad_token_id=pad_id, tie_word_embeddings=False)
    common = dict(
        vision_config=CLIPVisionConfig.from_pretrained(str(tower_dir)),
        text_config=CONFIG_MAPPING[ckpt.text_model_type](**text),
        image_token_index=image_id, vision_feature_layer=ckpt.select_layer,
        vision_feature_select_strategy=ckpt.select_strategy,
        projector_hidden_act="gelu" if ckpt.projector == "mlp2x_gelu" else "linear",
        multimodal_projector_bias=True, tie_word_embeddings=False,
    )
    if ckpt.family == "llava16":
        return LlavaNextConfig(**common, image_grid_pinpoints=ckpt.pinpoints_hw)
    return LlavaConfig(**common)


def convert(ckpt: OriginalCheckpoint, target: Path) -> dict:
    """Write the llava-hf directory `target` (atomically: a temporary sibling renamed at the end)."""
    from transformers import GenerationConfig, LlavaForConditionalGeneration, LlavaNextForConditionalGeneration

    start = time.perf_counter()
    target = Path(target)
    if ckpt.lora:
        base_dir = local_dir(ckpt.base, ("*.json", "*.safetensors", "*.model"))
        state, text_source = read_weights(base_dir), base_dir  # the builder takes the base's tokenizer
        merged = merge_lora(state, ckpt)
    else:
        state, text_source, merged = read_weights(ckpt.path), ckpt.path, 0
    tower_state, tower_dir, tower_from = _tower(ckpt, state)
    tokenizer = _tokenizer(text_source)
    check_image_tokens(tokenizer, ckpt.path)
    image_id, pad_id = tokenizer.convert_tokens_to_ids("<image>"), tokenizer.pad_token_id
    hf_state = hf_state_dict(state, tower_state, ckpt)
    rows = hf_state["model.language_model.embed_tokens.weight"].shape[0]
    if image_id >= rows:  # zero rows for <image>: its logit never moves the original vocabulary's
        grow = image_id + 1 - rows
        for key in ("model.language_model.embed_tokens.weight", "lm_head.weight"):
            value = hf_state[key]
            hf_state[key] = torch.cat([value, value.new_zeros(grow, value.shape[1])])
        rows = image_id + 1
    config = _hf_config(ckpt, tower_dir, rows, image_id, pad_id)
    cls = LlavaNextForConditionalGeneration if ckpt.family == "llava16" else LlavaForConditionalGeneration
    with torch.device("meta"):
        model = cls(config)
    missing, unexpected = model.load_state_dict(hf_state, strict=False, assign=True)
    if missing or unexpected:
        raise OriginalFormatError(f"{ckpt.path}: converted weights do not fit llava-hf's {cls.__name__}: "
                                  f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    gen_file = text_source / "generation_config.json"
    generation = GenerationConfig.from_dict(json.loads(gen_file.read_text())) if gen_file.is_file() else \
        GenerationConfig()
    generation.pad_token_id, generation.suppress_tokens = pad_id, [image_id]
    if generation.eos_token_id is None:
        generation.eos_token_id = tokenizer.eos_token_id
    model.generation_config = generation

    staging = target.with_name(f"{target.name}.tmp{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    _processor(ckpt, tokenizer, tower_dir, config.vision_config.patch_size).save_pretrained(staging)
    record = {
        "converter_version": CONVERTER_VERSION, "key": content_key(ckpt), "source": str(ckpt.path),
        "base": ckpt.base, "vision_tower": ckpt.vision_tower, "vision_tower_weights": tower_from,
        "family": ckpt.family, "image_aspect_ratio": "pad" if ckpt.image_aspect_ratio == "anyres" else
        ckpt.image_aspect_ratio, "lora_layers_merged": merged, "seconds": round(time.perf_counter() - start, 3),
        "bytes": sum(f.stat().st_size for f in staging.iterdir()),
    }
    (staging / MARKER).write_text(json.dumps(record, indent=2))
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(staging, target)
    except OSError:  # another process converted the same content meanwhile: keep theirs
        shutil.rmtree(staging, ignore_errors=True)
    return record


def resolve_checkpoint(path, base: Optional[str] = None, vision_tower: Optional[str] = None,
                       cache_dir: Optional[str] = None) -> tuple[str, Optional[dict]]:
    """(directory to load, conversion record). A llava-hf checkpoint comes back unchanged (None);
    an original-format one is converted once into `cache_dir/<content hash>` and reused."""
    if not is_original(path):
        if base or vision_tower:
            raise ConfigError(f"model.base / model.vision_tower apply to original-format LLaVA checkpoints; "
                              f"{path} is not one (no config.json with mm_* keys)")
        return str(path), conversion_record(path)  # a `python -m evalkit.convert` output keeps its record
    ckpt = inspect_original(path, base, vision_tower)
    out = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    target = out / content_key(ckpt, index=out / "keys.json")
    if (target / MARKER).is_file():
        log.info("%s: using its conversion in %s", path, target)
        return str(target), read_json(target / MARKER)
    log.info("%s: converting to llava-hf layout in %s (once; keyed by content)", path, target)
    record = convert(ckpt, target)
    return str(target), record
