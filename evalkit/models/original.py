"""Checkpoints in the ORIGINAL LLaVA layout (haotian-liu/LLaVA): recognise, validate, resolve.

A directory is an original-format checkpoint when its files say so: a config.json with LLaVA's own
architectures (LlavaLlamaForCausalLM / LlavaMistralForCausalLM) or model types (llava,
llava_llama, llava_mistral) AND the `mm_*` keys of LLaVA's training (a llava-hf config has
model_type `llava` too, but nests text_config / vision_config and has no `mm_*` key). A LoRA
output adds adapter_config.json, the adapter weights and non_lora_trainables.bin and needs a base
(a base LLM or another LLaVA checkpoint), as `llava.model.builder` merges it. The directory's name
is never looked at (the original builder decides by it; evalkit does not).

Everything here reads JSON only, so every refusal comes before any weight is read:
`inspect_original` gives the checkpoint's settings (pad vs anyres, pinpoints, select layer and
feature, patch merge type) or the reason it cannot be evaluated faithfully. `convert_weights.resolve_checkpoint`
converts once into a cache directory keyed by the content hash of every input
(evalkit/models/convert_weights.py) and hands back a llava-hf directory for the usual loading path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from evalkit.errors import ConfigError
from evalkit.fileio import cache_root, update_digest, write_json_atomic

log = logging.getLogger(__name__)

ARCHITECTURES = {"LlavaLlamaForCausalLM": "llama", "LlavaMistralForCausalLM": "mistral"}
MODEL_TYPES = {"llava": "llama", "llava_llama": "llama", "llava_mistral": "mistral"}
PROJECTORS = ("mlp2x_gelu", "linear")
SELECT_FEATURES = {"patch": "default", "cls_patch": "full"}
ASPECT_RATIOS = {"pad": "pad", "anyres": "anyres", None: "crop", "square": "crop"}  # else: the processor's crop
CONVERTER_VERSION = "1"  # part of the cache key: a converter change never reuses an old conversion
MARKER = "evalkit_conversion.json"  # written into every converted directory


class OriginalFormatError(ConfigError):
    """An original-format checkpoint evalkit refuses, with the reason (before any weight loads)."""


@dataclass(frozen=True)
class OriginalCheckpoint:
    """What evalkit needs to know about an original-format checkpoint, from its JSON files."""

    path: Path
    config: dict  # config.json (of the LoRA directory for a LoRA output)
    text_model_type: str  # llama | mistral
    family: str  # llava15 (pad / crop, flat) | llava16 (anyres, spatial_unpad)
    image_aspect_ratio: str  # pad | crop | anyres
    vision_tower: str  # model.vision_tower or mm_vision_tower: a local directory or a hub id
    select_layer: int
    select_strategy: str  # default (patch) | full (cls_patch)
    projector: str  # mlp2x_gelu | linear
    pinpoints_hw: Optional[list] = None  # anyres: HF's (height, width) order; LLaVA writes (width, height)
    lora: Optional[dict] = None  # adapter_config.json
    base: Optional[str] = None  # the LoRA's base: a directory (LLM or LLaVA checkpoint) or a hub id
    notes: tuple = field(default_factory=tuple)


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it as JSON ({exc})") from exc


def is_original(path) -> bool:
    """True for a local directory holding an original-format LLaVA checkpoint (full or LoRA)."""
    config_file = Path(str(path)) / "config.json"
    if not config_file.is_file():
        return False
    config = read_json(config_file)
    archs = config.get("architectures") or []
    ours = any(a in ARCHITECTURES for a in archs) or config.get("model_type") in MODEL_TYPES
    return ours and "mm_vision_tower" in config and "text_config" not in config


def _refuse(path, reason: str, fix: str = "") -> None:
    raise OriginalFormatError(f"{path}: cannot evaluate this original-format LLaVA checkpoint faithfully: {reason}"
                              + (f"; {fix}" if fix else ""))


def inspect_original(path, base: Optional[str] = None, vision_tower: Optional[str] = None) -> OriginalCheckpoint:
    """Settings of an original-format checkpoint, or OriginalFormatError naming the reason."""
    path = Path(str(path))
    config = read_json(path / "config.json")
    archs = config.get("architectures") or []
    text_type = next((ARCHITECTURES[a] for a in archs if a in ARCHITECTURES), None)
    if text_type is None:
        if archs:
            _refuse(path, f"architecture {archs[0]} (evalkit converts {', '.join(ARCHITECTURES)})")
        text_type = MODEL_TYPES.get(config.get("model_type"), "llama")
    projector = config.get("mm_projector_type", "linear")  # the original builder's default
    if projector not in PROJECTORS:
        _refuse(path, f"mm_projector_type={projector!r} (only {', '.join(PROJECTORS)} have a llava-hf equivalent)")
    if config.get("mm_use_im_start_end"):
        _refuse(path, "mm_use_im_start_end=true (<im_start>/<im_end> around the image have no llava-hf equivalent)")
    if config.get("s2") or config.get("s2_scales"):
        _refuse(path, "an S² (multi-scale) vision tower (s2 / s2_scales in config.json)")
    if config.get("quantization_config"):
        _refuse(path, "the checkpoint is quantised (quantization_config in config.json)")
    aspect_key = config.get("image_aspect_ratio")
    if aspect_key not in ASPECT_RATIOS:
        _refuse(path, f"image_aspect_ratio={aspect_key!r} (evalkit knows pad, anyres and square)")
    aspect = ASPECT_RATIOS[aspect_key]
    merge = config.get("mm_patch_merge_type", "flat")
    feature = config.get("mm_vision_select_feature", "patch")
    if feature not in SELECT_FEATURES:
        _refuse(path, f"mm_vision_select_feature={feature!r} (patch or cls_patch)")
    pinpoints = None
    if aspect == "anyres":
        if merge == "flat":
            _refuse(path, "image_aspect_ratio=anyres with mm_patch_merge_type=flat (the tiles are concatenated "
                          "without their layout; llava-hf's LLaVA-NeXT implements spatial_unpad only)")
        if merge != "spatial_unpad":
            _refuse(path, f"mm_patch_merge_type={merge!r} (llava-hf's LLaVA-NeXT implements spatial_unpad only)")
        if feature != "patch":
            _refuse(path, "anyres with mm_vision_select_feature=cls_patch (LLaVA-NeXT's 24x24 grid needs patch)")
        raw = config.get("image_grid_pinpoints")
        if isinstance(raw, str):
            import ast

            raw = ast.literal_eval(raw)
        if not raw:
            _refuse(path, "image_aspect_ratio=anyres without image_grid_pinpoints")
        pinpoints = [[int(h), int(w)] for w, h in raw]
    tower = vision_tower or config.get("mm_vision_tower")
    if not tower:
        _refuse(path, "config.json names no mm_vision_tower", "set model.vision_tower")
    _check_tower(path, str(tower))
    lora = None
    if (path / "adapter_config.json").is_file():
        lora = _check_lora(path, base)
    elif base:
        _refuse(path, "model.base is set but this is a full checkpoint (no adapter_config.json)",
                "drop model.base, or point model.path at the LoRA output")
    elif not _weight_files(path):
        _refuse(path, "no weights (model*.safetensors / pytorch_model*.bin)")
    return OriginalCheckpoint(
        path=path, config=config, text_model_type=text_type, family="llava16" if aspect == "anyres" else "llava15",
        image_aspect_ratio=aspect, vision_tower=str(tower), select_layer=int(config.get("mm_vision_select_layer", -2)),
        select_strategy=SELECT_FEATURES[feature], projector=projector, pinpoints_hw=pinpoints, lora=lora,
        base=str(base) if base else None,
    )


def _check_tower(path: Path, tower: str) -> None:
    if os.path.isdir(tower):
        tower_config = read_json(Path(tower) / "config.json") if (Path(tower) / "config.json").is_file() else {}
        if tower_config.get("model_type") not in ("clip", "clip_vision_model"):
            _refuse(path, f"vision tower {tower} is not a CLIP model (LLaVA's builder loads CLIP towers only)")
        return
    if tower.startswith(("/", "./", "../")):
        _refuse(path, f"vision tower directory {tower} does not exist", "set model.vision_tower to a local copy")
    if tower.count("/") != 1:
        _refuse(path, f"vision tower {tower!r} is neither a local directory nor a hub id",
                "set model.vision_tower to a local CLIP tower directory")


def _check_lora(path: Path, base: Optional[str]) -> dict:
    adapter = read_json(path / "adapter_config.json")
    if not base:
        _refuse(path, "it is a LoRA output (adapter_config.json) and needs the model it was trained on",
                "set model.base to the base LLM or LLaVA checkpoint (e.g. the handbook's llava-v1.5-7b)")
    if adapter.get("peft_type", "LORA") != "LORA":
        _refuse(path, f"peft_type={adapter.get('peft_type')!r} (only LoRA adapters are merged)")
    if adapter.get("loftq_config") or adapter.get("quantization_config") or "bnb" in json.dumps(adapter).lower():
        _refuse(path, "a quantised LoRA (QLoRA / LoftQ): merging it into fp16 weights does not give the "
                      "model it was trained against", "evaluate it with the original repository")
    if adapter.get("use_dora"):
        _refuse(path, "a DoRA adapter (use_dora=true)")
    if adapter.get("rank_pattern") or adapter.get("alpha_pattern") or adapter.get("fan_in_fan_out"):
        _refuse(path, "per-layer rank/alpha patterns or fan_in_fan_out")
    if not ((path / "adapter_model.safetensors").is_file() or (path / "adapter_model.bin").is_file()):
        _refuse(path, "no adapter_model.safetensors / adapter_model.bin")
    if not (path / "non_lora_trainables.bin").is_file():
        _refuse(path, "no non_lora_trainables.bin (the projector LLaVA's LoRA training saves beside the adapter)")
    base_dir = Path(str(base))
    if base_dir.is_dir():
        base_config = read_json(base_dir / "config.json") if (base_dir / "config.json").is_file() else {}
        if base_config.get("quantization_config"):
            _refuse(path, f"the base {base} is quantised (quantization_config)")
        if "text_config" in base_config:
            _refuse(path, f"the base {base} is a llava-hf checkpoint; LLaVA's LoRA is trained on an LLM or an "
                          "original-format LLaVA checkpoint", "point model.base at that one")
        if not _weight_files(base_dir):
            _refuse(path, f"the base {base} has no weights")
    elif str(base).startswith(("/", "./", "../")) or str(base).count("/") != 1:
        _refuse(path, f"model.base {base} is neither a local directory nor a hub id")
    return adapter


def _weight_files(directory: Path) -> list[Path]:
    files = sorted(directory.glob("model*.safetensors"))
    return files or sorted(directory.glob("pytorch_model*.bin"))


# -- the cache -------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    return cache_root() / "converted"


def _input_files(ckpt: OriginalCheckpoint) -> list[tuple[str, str, Optional[list[Path]]]]:
    """(role, source, files) of what conversion reads: every top-level weight, JSON and tokenizer
    file of the checkpoint, its base and its tower where they are directories (None: a hub id)."""
    out = []
    for role, source in (("path", str(ckpt.path)), ("base", ckpt.base), ("tower", ckpt.vision_tower)):
        files = None
        if source and os.path.isdir(source):
            files = sorted(p for p in Path(source).iterdir() if p.is_file()
                           and p.suffix in (".json", ".safetensors", ".bin", ".model", ".txt") and p.name != MARKER)
        out.append((role, str(source), files))
    return out


_KEYS: dict[str, str] = {}  # stat fingerprint -> content key, for this process


def content_key(ckpt: OriginalCheckpoint, index: Optional[Path] = None) -> str:
    """The conversion cache key: a SHA-256 of the input files' names and bytes (a hub id by name,
    resolved to its current snapshot). Hashing a 7B checkpoint takes seconds on every load, so the
    key is remembered by the files' (name, size, mtime) fingerprint, in this process and, with
    `index`, in a JSON file beside the conversions: an unchanged checkpoint is not read again."""
    inputs = _input_files(ckpt)
    stats = hashlib.sha256(f"evalkit-convert {CONVERTER_VERSION}\0".encode())
    for role, source, files in inputs:
        stats.update(f"{role}\0{source}\0".encode())
        for file in files or ():
            st = file.stat()
            stats.update(f"{file.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    fingerprint = stats.hexdigest()
    known = _KEYS.get(fingerprint) or (_read_index(index).get(fingerprint) if index else None)
    if known:
        return _KEYS.setdefault(fingerprint, known)
    digest = hashlib.sha256(f"evalkit-convert {CONVERTER_VERSION}\0".encode())
    for role, source, files in inputs:
        digest.update(role.encode() + b"\0")
        if files is None:
            digest.update(source.encode())  # a hub id (resolved to its current snapshot)
        for file in files or ():
            digest.update(file.name.encode() + b"\0")
            update_digest(digest, file)
    key = _KEYS[fingerprint] = digest.hexdigest()[:24]
    if index is not None:
        try:
            index.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(index, {**_read_index(index), fingerprint: key})
        except OSError as exc:  # a read-only cache folder: the key is still right, only slower next time
            log.warning("cannot remember the conversion key in %s: %s", index, exc)
    return key


def _read_index(index: Path) -> dict:
    try:
        return json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def conversion_record(directory) -> Optional[dict]:
    marker = Path(str(directory)) / MARKER
    return read_json(marker) if marker.is_file() else None


HF_FAMILIES = {"llava": "llava15", "llava_next": "llava16"}


def settle_family(source, config, family: Optional[str], aspect: Optional[str], record: Optional[dict]):
    """(family, image_aspect_ratio): the checkpoint's own where the model config leaves them unset
    (None); a family contradicting an original-format checkpoint's image_aspect_ratio is refused."""
    if record is not None:
        if family is not None and family != record["family"]:
            raise ConfigError(f"model.family={family}, but {source} is a {record['family']} checkpoint (its "
                              "image_aspect_ratio / mm_patch_merge_type say so); drop model.family")
        return record["family"], aspect or record["image_aspect_ratio"]
    if family is None:
        family = HF_FAMILIES.get(getattr(config, "model_type", None))
        if family is None:
            raise ConfigError(f"{source}: model_type {getattr(config, 'model_type', None)!r} is neither llava "
                              "nor llava_next; set model.family")
    return family, aspect or "pad"


# -- the original token layout ---------------------------------------------------------------------
# tokenizer_image_token, copied from haotian-liu/LLaVA llava/mm_utils.py (Apache License 2.0,
# Copyright 2023 Haotian Liu), unchanged but for the names of the default arguments: each text
# chunk around "<image>" is tokenized on its own (so SentencePiece gives the chunk after the
# image its leading "▁"), the BOS of later chunks is dropped, IMAGE_TOKEN_INDEX goes between.
IMAGE_TOKEN_INDEX = -200


def tokenizer_image_token(prompt, tokenizer, image_token_index=IMAGE_TOKEN_INDEX, return_tensors=None):
    prompt_chunks = [tokenizer(chunk).input_ids for chunk in prompt.split('<image>')]

    def insert_separator(X, sep):
        return [ele for sublist in zip(X, [sep] * len(X)) for ele in sublist][:-1]

    input_ids = []
    offset = 0
    if len(prompt_chunks) > 0 and len(prompt_chunks[0]) > 0 and prompt_chunks[0][0] == tokenizer.bos_token_id:
        offset = 1
        input_ids.append(prompt_chunks[0][0])

    for x in insert_separator(prompt_chunks, [image_token_index] * (offset + 1)):
        input_ids.extend(x[offset:])

    if return_tensors is not None:
        if return_tensors == 'pt':
            import torch

            return torch.tensor(input_ids, dtype=torch.long)
        raise ValueError(f'Unsupported tensor type: {return_tensors}')
    return input_ids
