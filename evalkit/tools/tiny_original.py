"""Tiny checkpoints in the ORIGINAL LLaVA layout (haotian-liu/LLaVA), as its builder expects them.

What `llava.model.builder.load_pretrained_model` reads is written the way LLaVA's training writes
it: a `LlavaLlamaForCausalLM` config.json with the `mm_*` keys, fp16 safetensors with the original
key names (`model.mm_projector.0.weight`, `model.vision_tower.vision_tower.vision_model.*` for a
tuned tower, `model.image_newline`), a CLIP vision tower saved as a local directory that
`mm_vision_tower` names, and a SentencePiece Llama tokenizer (`tokenizer.model`, trained here with
Llama's settings: BPE, byte fallback, dummy prefix, no whitespace folding). A LoRA output is
`adapter_config.json` + `adapter_model.safetensors` (PEFT key names) + `non_lora_trainables.bin`
+ the config, trained on top of a full checkpoint, as the seed handbook does.

Weights are random with std 0.1 (so greedy answers differ between inputs) and stored in fp16, so
the original builder's fp16 load loses nothing and both sides can compute in fp32. Directory names
contain "llava" / "lora" because the ORIGINAL builder decides by name; evalkit never does.
Used by tests/integration/test_original_checkpoints.py and `python -m evalkit.tools.parity_llava`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from evalkit.tools.tiny import _CORPUS

VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2, image_size=336,
              patch_size=14, projection_dim=32, hidden_act="quick_gelu")
TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=4, max_position_embeddings=4096, rms_norm_eps=1e-5)
# (width, height) as LLaVA writes them; deliberately not symmetric, so a swap to HF's (height,
# width) order that is missed changes the tiling.
PINPOINTS_WH = [[336, 672], [672, 672], [1008, 336]]
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def _random(shape, generator, std=0.1) -> torch.Tensor:
    return (torch.randn(shape, generator=generator) * std).to(torch.float16)


def _save_weights(state: dict, out: Path, name: str = "model.safetensors") -> None:
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / name), metadata={"format": "pt"})


def save_tokenizer(out: Path, vocab_size: int = 400) -> int:
    """A SentencePiece BPE with Llama's trainer settings; returns its vocabulary size."""
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_CORPUS * 8), model_writer=buffer, vocab_size=vocab_size, model_type="bpe",
        byte_fallback=True, character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        add_dummy_prefix=True, remove_extra_whitespaces=False, normalization_rule_name="identity",
        split_digits=True, allow_whitespace_only_pieces=True, hard_vocab_limit=False, num_threads=1, minloglevel=2,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer.model").write_bytes(buffer.getvalue())
    # As vicuna-7b-v1.5 / llava-v1.5-7b ship it: legacy false, no pad token, BOS added.
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "pad_token": None, "add_bos_token": True, "add_eos_token": False, "legacy": False,
        "model_max_length": 2048, "padding_side": "right", "clean_up_tokenization_spaces": False,
        "sp_model_kwargs": {},
    }, indent=2))
    (out / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, indent=2))
    return spm.SentencePieceProcessor(model_proto=buffer.getvalue()).get_piece_size()


def save_vision_tower(out: Path, seed: int = 1, vision: dict = VISION) -> Path:
    """A CLIP vision tower directory like openai/clip-vit-large-patch14-336 (config, weights,
    preprocessor_config.json), only narrower and shallower."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(seed)
    model = CLIPVisionModel(CLIPVisionConfig(**vision))
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() >= 2:
                param.normal_(0.0, 0.1)
    model.config.save_pretrained(out)
    # The key names of openai/clip-vit-large-patch14-336 (`vision_model.*`), which every
    # transformers version loads; transformers 5's save_pretrained would drop the prefix.
    out.mkdir(parents=True, exist_ok=True)
    _save_weights({f"vision_model.{k}": v.to(torch.float16) for k, v in model.state_dict().items()}, out)
    (out / "preprocessor_config.json").write_text(json.dumps({
        "crop_size": {"height": 336, "width": 336}, "do_center_crop": True, "do_convert_rgb": True,
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": CLIP_MEAN,
        "image_processor_type": "CLIPImageProcessor", "image_std": CLIP_STD, "resample": 3,
        "rescale_factor": 1 / 255, "size": {"shortest_edge": 336},
    }, indent=2))
    return out


def original_config(tower: Path, vocab_size: int, anyres: bool = False, text: dict = TEXT, vision: dict = VISION,
                    **changes) -> dict:
    """config.json as LLaVA's training writes it (llava-v1.5-7b / llava-v1.6-vicuna-7b keys)."""
    config = {
        "architectures": ["LlavaLlamaForCausalLM"], "model_type": "llava_llama", **text,
        "vocab_size": vocab_size, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "hidden_act": "silu",
        "initializer_range": 0.02, "pretraining_tp": 1, "rope_theta": 10000.0, "rope_scaling": None,
        "tie_word_embeddings": False, "torch_dtype": "float16", "use_cache": True, "attention_bias": False,
        "freeze_mm_mlp_adapter": False, "tune_mm_mlp_adapter": False, "use_mm_proj": True,
        "mm_hidden_size": vision["hidden_size"], "mm_projector_type": "mlp2x_gelu", "mm_projector_lr": None,
        "mm_vision_select_feature": "patch", "mm_vision_select_layer": -2, "mm_vision_tower": str(tower),
        "mm_use_im_patch_token": False, "mm_use_im_start_end": False, "tokenizer_model_max_length": 2048,
        "tokenizer_padding_side": "right", "image_aspect_ratio": "pad", "mm_patch_merge_type": "flat",
    }
    if anyres:
        config.update(image_aspect_ratio="anyres", image_grid_pinpoints=PINPOINTS_WH,
                      mm_patch_merge_type="spatial_unpad", unfreeze_mm_vision_tower=True,
                      tokenizer_model_max_length=4096)  # as llava-v1.6-vicuna-7b: no truncation
    config.update(changes)
    return config


def language_weights(vocab_size: int, generator, text: dict = TEXT) -> dict:
    """A Llama LM's weights under LLaVA's (= LlamaForCausalLM's) key names."""
    width, inner = text["hidden_size"], text["intermediate_size"]
    lm_head = _random((vocab_size, width), generator)
    lm_head[3:259] = 0  # the 256 byte pieces: answers in word pieces decode to the same text everywhere
    state = {"model.embed_tokens.weight": _random((vocab_size, width), generator),
             "model.norm.weight": torch.ones(width, dtype=torch.float16), "lm_head.weight": lm_head}
    for i in range(text["num_hidden_layers"]):
        p = f"model.layers.{i}."
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            state[p + f"self_attn.{name}.weight"] = _random((width, width), generator)
        state[p + "mlp.gate_proj.weight"] = _random((inner, width), generator)
        state[p + "mlp.up_proj.weight"] = _random((inner, width), generator)
        state[p + "mlp.down_proj.weight"] = _random((width, inner), generator)
        state[p + "input_layernorm.weight"] = torch.ones(width, dtype=torch.float16)
        state[p + "post_attention_layernorm.weight"] = torch.ones(width, dtype=torch.float16)
    return state


def projector_weights(generator, prefix: str = "model.", text: dict = TEXT, vision: dict = VISION) -> dict:
    vision, width = vision["hidden_size"], text["hidden_size"]
    return {f"{prefix}mm_projector.0.weight": _random((width, vision), generator),
            f"{prefix}mm_projector.0.bias": _random((width,), generator),
            f"{prefix}mm_projector.2.weight": _random((width, width), generator),
            f"{prefix}mm_projector.2.bias": _random((width,), generator)}


def save_full(out: Path, tower: Path, anyres: bool = False, seed: int = 0, text: dict = TEXT, vision: dict = VISION,
              vocab_size: int = 0, **config_changes) -> Path:
    """A full fine-tune: LLaVA-1.5 (pad, flat) or, with `anyres`, LLaVA-1.6 (anyres,
    spatial_unpad, image_newline, a tuned vision tower stored in the checkpoint)."""
    vocab = max(save_tokenizer(out), vocab_size)  # a larger embedding than the tokenizer: as padded vocabularies
    generator = torch.Generator().manual_seed(seed)
    state = {**language_weights(vocab, generator, text), **projector_weights(generator, "model.", text, vision)}
    if anyres:
        state["model.image_newline"] = _random((text["hidden_size"],), generator)
        from safetensors.torch import load_file

        tower_state = load_file(str(tower / "model.safetensors"))
        for key, value in tower_state.items():  # "tuned": the tower directory's weights, moved
            state[f"model.vision_tower.vision_tower.{key}"] = (value.float() + _random(value.shape, generator, 0.02)
                                                               .float()).to(torch.float16)
    _save_weights(state, out)
    config = original_config(tower, vocab, anyres, text, vision, **config_changes)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "max_length": 4096}, indent=2))
    return out


def save_lora(out: Path, base: Path, tower: Path, r: int = 8, alpha: int = 16, seed: int = 3, text: dict = TEXT,
              vision: dict = VISION) -> Path:
    """A LoRA output of `train.py --lora_enable True` on top of `base` (the handbook's r:alpha = 1:2):
    config.json, adapter_config.json, adapter_model.safetensors, non_lora_trainables.bin."""
    out.mkdir(parents=True, exist_ok=True)
    base_config = json.loads((base / "config.json").read_text())
    generator = torch.Generator().manual_seed(seed)
    width, inner = text["hidden_size"], text["intermediate_size"]
    shapes = {"q_proj": (width, width), "k_proj": (width, width), "v_proj": (width, width), "o_proj": (width, width),
              "gate_proj": (inner, width), "up_proj": (inner, width), "down_proj": (width, inner)}
    adapter = {}
    for i in range(text["num_hidden_layers"]):
        for name, (out_dim, in_dim) in shapes.items():
            group = "self_attn" if name.endswith(("q_proj", "k_proj", "v_proj", "o_proj")) else "mlp"
            p = f"base_model.model.model.layers.{i}.{group}.{name}."
            adapter[p + "lora_A.weight"] = _random((r, in_dim), generator)
            adapter[p + "lora_B.weight"] = _random((out_dim, r), generator)
    _save_weights(adapter, out, "adapter_model.safetensors")
    torch.save(projector_weights(generator, "base_model.model.model.", text, vision), out / "non_lora_trainables.bin")
    (out / "adapter_config.json").write_text(json.dumps({
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": str(base), "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layers_pattern": None,
        "layers_to_transform": None, "loftq_config": {}, "lora_alpha": alpha, "lora_dropout": 0.05,
        "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": None, "peft_type": "LORA",
        "r": r, "rank_pattern": {}, "revision": None, "target_modules": LORA_TARGETS, "task_type": "CAUSAL_LM",
        "use_dora": False, "use_rslora": False,
    }, indent=2))
    config = {**base_config, "_name_or_path": str(base)}
    (out / "config.json").write_text(json.dumps(config, indent=2))
    return out


def save_all(root: Path) -> dict[str, Path]:
    """The three checkpoints of the parity table (plus the tower and the LoRA's base)."""
    root = Path(root)
    tower = save_vision_tower(root / "clip-tower")
    v15 = save_full(root / "llava-v1.5-tiny", tower, seed=0)
    lora = save_lora(root / "llava-v1.5-tiny-lora", v15, tower)
    v16 = save_full(root / "llava-v1.6-tiny", tower, anyres=True, seed=5)
    return {"tower": tower, "llava15": v15, "llava15_lora": lora, "llava16": v16}
