"""Tiny LLaVA / LLaVA-NeXT checkpoints built from config, faithful to llava-hf in all but size.

Everything a real `llava-hf/*` checkpoint fixes is kept: 336 px CLIP tower with 14 px patches
(577 tokens incl. CLS), CLIP mean/std, bicubic resize, `<image>` and `<pad>` added after the
vocabulary, BOS added by the tokenizer, left padding, the llava-hf chat templates, LLaVA-1.6
pinpoints, `vision_feature_layer=-2` and the `default` select strategy. Only width, depth and
vocabulary size shrink. Used by the tests, the benchmark and the training script of the shipped
tiny checkpoints; users never need it to run a real model.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaNextConfig,
    LlavaNextForConditionalGeneration,
    LlavaNextProcessor,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

# The pinpoints of llava-hf/llava-v1.6-*-hf (height, width).
LLAVA16_PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]

# Chat templates of llava-hf/llava-1.5-7b-hf and llava-v1.6-vicuna-7b-hf: "USER: <image>\n{q} ASSISTANT:".
VICUNA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
    "{% endif %}{# Render all images first #}{% for content in message['content'] | selectattr('type', "
    "'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% for content in "
    "message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

# A corpus that covers the prompt formats and yes/no vocabulary, so the tiny BPE tokenizes
# prompts in few tokens the way a real 32k vocabulary does; anything else falls back to bytes.
_CORPUS = [
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives "
    "helpful, detailed, and polite answers to the user's questions. USER: ASSISTANT:",
    "[INST] [/INST] USER: ASSISTANT: Answer the question using a single word or phrase.",
    "Yes No yes no Yes. No. Is there a in the image? Are there exactly Is the on the left right top "
    "bottom of the image? Please answer yes or no. What is the color of the object?",
    "red green blue yellow purple orange white black gray cyan magenta pink brown",
    "circle square triangle star cross diamond ring hexagon ellipse rectangle",
    "one two three four five six small large big tiny object objects shape shapes",
    "0 1 2 3 4 5 6 7 8 9 , . ? ! : ; ' \" ( ) - /",
    "<image>\nIs there\n<image>\nAre there\n<image>\nWhat is\n",
]
# With `letters`: option letters as whole tokens, as in LLaMA's vocabulary (multiple choice scored
# by decoding=choice_logits). Opt-in, so the default tokenizer (and every test built on it) is unchanged.
_LETTERS_CORPUS = "A B C D E A. B. C. D. E. (A) (B) (C) (D) Answer with the option's letter from the given choices directly."


def build_tokenizer(vocab_size: int = 384, letters: bool = False) -> PreTrainedTokenizerFast:
    """A Llama-style BPE (metaspace, byte fallback, BOS prepended) trained on a fixed corpus."""
    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size + 256,
        special_tokens=["<unk>", "<s>", "</s>", *byte_tokens],
        show_progress=False,
    )
    tok.train_from_iterator((_CORPUS + [_LETTERS_CORPUS] * letters) * 4, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    # As in llava-hf: <image> then <pad> appended after the base vocabulary.
    hf.add_special_tokens({"additional_special_tokens": ["<image>"]})
    hf.add_special_tokens({"pad_token": "<pad>"})
    hf.image_token = "<image>"
    return hf


def _image_processor_kwargs() -> dict:
    return dict(
        do_resize=True,
        size={"shortest_edge": 336},
        resample=3,  # bicubic
        do_center_crop=True,
        crop_size={"height": 336, "width": 336},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(OPENAI_CLIP_MEAN),
        image_std=list(OPENAI_CLIP_STD),
        do_convert_rgb=True,
    )


def build_processor(family: str, tokenizer: PreTrainedTokenizerFast | None = None):
    tokenizer = tokenizer or build_tokenizer()
    if family == "llava15":
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        image_processor = CLIPImageProcessorPil(**_image_processor_kwargs())
        cls = LlavaProcessor
    elif family == "llava16":
        from transformers.models.llava_next.image_processing_pil_llava_next import (
            LlavaNextImageProcessorPil,
        )

        image_processor = LlavaNextImageProcessorPil(
            **_image_processor_kwargs(), image_grid_pinpoints=LLAVA16_PINPOINTS, do_pad=True
        )
        cls = LlavaNextProcessor
    else:
        raise ValueError(f"unknown family {family!r}: expected llava15 or llava16")
    return cls(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # the CLS token of the CLIP tower
        chat_template=VICUNA_CHAT_TEMPLATE,
        image_token="<image>",
    )


def build_config(
    family: str,
    tokenizer: PreTrainedTokenizerFast,
    vision_width: int = 32,
    vision_layers: int = 3,
    text_width: int = 64,
    text_layers: int = 2,
):
    vision = CLIPVisionConfig(
        hidden_size=vision_width,
        intermediate_size=vision_width * 2,
        num_hidden_layers=vision_layers,
        num_attention_heads=2,
        image_size=336,
        patch_size=14,
        projection_dim=vision_width,
        hidden_act="quick_gelu",
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=text_width,
        intermediate_size=text_width * 2,
        num_hidden_layers=text_layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    common = dict(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        projector_hidden_act="gelu",
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    if family == "llava15":
        return LlavaConfig(**common)
    if family == "llava16":
        return LlavaNextConfig(**common, image_grid_pinpoints=LLAVA16_PINPOINTS)
    raise ValueError(f"unknown family {family!r}: expected llava15 or llava16")


def build_model(family: str, tokenizer: PreTrainedTokenizerFast, seed: int = 0, init_std: float = 0.1, **sizes):
    """A randomly initialised tiny model. The default init (std 0.02) makes every answer the same
    token; a larger std gives varied outputs, which parity tests need."""
    config = build_config(family, tokenizer, **sizes)
    torch.manual_seed(seed)
    cls = LlavaForConditionalGeneration if family == "llava15" else LlavaNextForConditionalGeneration
    model = cls(config)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() >= 2:  # matrices and embeddings; norms keep their unit init
                param.normal_(0.0, init_std)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model.eval()


def save_tiny(family: str, out_dir: str | Path, seed: int = 0, init_std: float = 0.1, letters: bool = False,
              **sizes) -> Path:
    """Write a tiny checkpoint directory loadable exactly like `llava-hf/*` (from_pretrained)."""
    out = Path(out_dir)
    tokenizer = build_tokenizer(letters=letters)
    processor = build_processor(family, tokenizer)
    model = build_model(family, tokenizer, seed=seed, init_std=init_std, **sizes)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
