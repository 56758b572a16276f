"""Full-size LLaVA-1.5-7B and LLaVA-1.6-7B (vicuna) with random weights, for evalkit.tools.gpu_check.

The configs are those of `llava-hf/llava-1.5-7b-hf` and `llava-hf/llava-v1.6-vicuna-7b-hf`
(their config.json, written out below: CLIP ViT-L/14-336 tower, Vicuna-7B = Llama-2-7B shape,
vocabulary 32064, `<image>` = 32000, feature layer -2, the 1.6 pinpoints); the keys they leave out
take the transformers defaults, as loading the hub file does. Nothing is downloaded: the model is
built from the config directly on the device in the target dtype (`torch.device` context), so
building takes seconds, and loaded through `LlavaModel` (the path users run) from a directory
holding only config.json and the processor files.

Tokenizer: a byte-fallback BPE with a real-sized vocabulary, no dependency and no download: the
tiny checkpoints' BPE (it covers the prompt templates and the benchmark questions in few tokens,
as a 32k vocabulary does) padded with unused pieces to 32000, then `<image>` = 32000 and `<pad>` =
32001, the ids of llava-hf. Prompt lengths are then within a few tokens of Vicuna's; they are
dominated by the image tokens anyway (576 for 1.5, 1176-2928 for 1.6), which come from the real
image processors (tiny.build_processor). The Mistral sentencepiece model in the mistral-common
wheel would give real word pieces too, but needs that package on the GPU machine.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import LlavaConfig, LlavaNextConfig, PreTrainedTokenizerFast

from evalkit.models.llava import LlavaModel
from evalkit.tools.tiny import LLAVA16_PINPOINTS, build_processor, build_tokenizer

_VISION = {  # openai/clip-vit-large-patch14-336, as both llava-hf configs give it
    "model_type": "clip_vision_model", "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
    "num_attention_heads": 16, "image_size": 336, "patch_size": 14, "projection_dim": 768, "vocab_size": 32000,
}
_TEXT = {  # lmsys/vicuna-7b-v1.5 (Llama defaults: hidden 4096, 32 layers, 32 heads, MLP 11008)
    "model_type": "llama", "max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "vocab_size": 32064,
}
CONFIGS = {
    "llava15": {  # llava-hf/llava-1.5-7b-hf/config.json
        "model_type": "llava", "image_token_index": 32000, "pad_token_id": 32001, "projector_hidden_act": "gelu",
        "text_config": _TEXT, "vision_config": _VISION, "tie_word_embeddings": False,
        "vision_feature_layer": -2, "vision_feature_select_strategy": "default", "vocab_size": 32064,
    },
    "llava16": {  # llava-hf/llava-v1.6-vicuna-7b-hf/config.json
        "model_type": "llava_next", "image_token_index": 32000, "projector_hidden_act": "gelu",
        "image_grid_pinpoints": LLAVA16_PINPOINTS, "text_config": {**_TEXT, "pad_token_id": 0},
        "vision_config": _VISION, "tie_word_embeddings": False, "use_image_newline_parameter": True,
        "vision_feature_layer": -2, "vision_feature_select_strategy": "default", "vocab_size": 32064,
    },
}
NAMES = {"llava15": "llava-1.5-7b (random)", "llava16": "llava-1.6-vicuna-7b (random)"}

# --tiny: the same configs at the tiny checkpoints' widths and depths (tiny.build_config).
TINY_SIZES = {
    "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 2,
                      "projection_dim": 32},
    "text_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                    "num_key_value_heads": 4},
}
BASE_VOCAB = 32000


def config_dict(family: str, tiny: bool = False) -> dict:
    out = copy.deepcopy(CONFIGS[family])
    if tiny:
        for part, sizes in TINY_SIZES.items():
            out[part].update(sizes)
    return out


def real_sized_tokenizer() -> PreTrainedTokenizerFast:
    """The tiny BPE padded to 32000 pieces, then <image> = 32000, <pad> = 32001 (see the module doc)."""
    small = build_tokenizer()
    state = json.loads(small.backend_tokenizer.to_str())
    state["added_tokens"] = [t for t in state["added_tokens"] if t["content"] not in ("<image>", "<pad>")]
    vocab = state["model"]["vocab"]
    for i in range(len(vocab), BASE_VOCAB):  # never produced by the merges; decodable if generated
        vocab[f"▁unused{i}"] = i
    hf = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(state)), bos_token="<s>",
                                 eos_token="</s>", unk_token="<unk>", padding_side="left",
                                 clean_up_tokenization_spaces=False)
    hf.add_special_tokens({"additional_special_tokens": ["<image>"]})
    hf.add_special_tokens({"pad_token": "<pad>"})
    hf.image_token = "<image>"
    assert hf.convert_tokens_to_ids("<image>") == 32000 and hf.pad_token_id == 32001, "llava-hf token ids"
    return hf


def write_model_dir(family: str, out: Path, tokenizer: PreTrainedTokenizerFast, tiny: bool = False) -> Path:
    """config.json + processor files (no weights): what LlavaModel reads before the weights."""
    cls = LlavaConfig if family == "llava15" else LlavaNextConfig
    config = cls(**config_dict(family, tiny))
    config.text_config.eos_token_id, config.text_config.bos_token_id = tokenizer.eos_token_id, tokenizer.bos_token_id
    out.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(out)
    build_processor(family, tokenizer).save_pretrained(out)
    return out


class RandomLlava(LlavaModel):
    """LlavaModel whose weights are random, built on the device in the target dtype with SDPA
    attention; everything else (processor, prompts, batching, cache, generate) is the real path."""

    def _load_weights(self, model_cls, config, revision):
        with torch.device(self.device):
            model = model_cls._from_config(config, dtype=self.dtype, attn_implementation="sdpa")
        model.generation_config.pad_token_id = self.tokenizer.pad_token_id
        model.generation_config.eos_token_id = self.tokenizer.eos_token_id
        model.generation_config.bos_token_id = self.tokenizer.bos_token_id
        return model


def build(family: str, model_dir: Path, device: str, dtype: str) -> RandomLlava:
    return RandomLlava(name=NAMES[family], path=str(model_dir), family=family, device=device, dtype=dtype)
