"""Quick evaluation of tiny checkpoints while training (`python -m evalkit.tools.train_tiny --eval`):
per-category accuracy with batched, left-padded `model.generate`, first word parsed. The harness
CLI (`python -m evalkit model=tiny_llava15`) is the real evaluator."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import torch

from datasets_adapters.shapes import ShapesDataset


def first_word(text: str) -> str:
    words = text.strip().lower().replace(",", " ").replace(".", " ").split()
    return words[0] if words and words[0] in ("yes", "no") else "other"


@torch.inference_mode()
def predict(model, processor, family: str, items: Sequence, batch_size: int = 16) -> dict[str, str]:
    """Greedy answers (first word: yes/no/other) by item id; the questions of one image share batches."""
    from evalkit.tools.train_tiny_losses import Encoder

    encoder = Encoder(processor, family)
    tokenizer = processor.tokenizer
    tokenizer.padding_side = "left"
    by_image: dict[int, list] = defaultdict(list)
    for item in items:
        by_image[id(item.image)].append(item)
    answers = {}
    for group in by_image.values():
        for i in range(0, len(group), batch_size):
            batch = group[i: i + batch_size]
            pixels, ids = encoder.encode(batch[0].image, [it.question for it in batch])
            padded = tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt")
            pixels = {k: v.expand(len(batch), *v.shape[1:]) for k, v in pixels.items()}
            output = model.generate(**padded, **pixels, max_new_tokens=3, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id)
            texts = tokenizer.batch_decode(output[:, padded["input_ids"].shape[1]:], skip_special_tokens=True)
            answers.update({it.id: first_word(t) for it, t in zip(batch, texts)})
    return answers


def report(items: Sequence, answers: dict[str, str]) -> dict:
    """Accuracy per MME category (+acc+), per POPE split (acc, F1, yes-ratio), small objects, overall."""
    rows = defaultdict(list)
    for item in items:
        said = answers[item.id]
        correct = said == item.answer
        key = f"{item.task}/{item.category}"
        rows[key].append((item, said, correct))
        rows["overall"].append((item, said, correct))
        if item.meta.get("small"):
            rows[f"small/{item.task}"].append((item, said, correct))
            rows["small/all"].append((item, said, correct))
        elif item.meta.get("target"):
            rows["large/all"].append((item, said, correct))
    out = {}
    for key, group in sorted(rows.items()):
        stats = {"n": len(group), "acc": sum(c for _, _, c in group) / len(group),
                 "yes_ratio": sum(s == "yes" for _, s, _ in group) / len(group)}
        if key.startswith("pope/"):
            tp = sum(s == "yes" and i.answer == "yes" for i, s, _ in group)
            fp = sum(s == "yes" and i.answer == "no" for i, s, _ in group)
            fn = sum(s != "yes" and i.answer == "yes" for i, s, _ in group)
            stats["f1"] = 2 * tp / max(1, 2 * tp + fp + fn)
        if key.startswith("mme/"):
            pairs = defaultdict(list)
            for i, _, c in group:
                pairs[i.group].append(c)
            stats["acc_plus"] = sum(all(v) for v in pairs.values()) / len(pairs)
        out[key] = stats
    return out


def evaluate(model_dir: Path, family: str, n_images: int, seed: int, batch_size: int = 16) -> dict:
    from transformers import AutoProcessor, LlavaForConditionalGeneration, LlavaNextForConditionalGeneration

    cls = LlavaForConditionalGeneration if family == "llava15" else LlavaNextForConditionalGeneration
    model = cls.from_pretrained(model_dir, dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    items = ShapesDataset(split="eval", n_images=n_images, seed=seed).load()
    start = time.time()
    answers = predict(model, processor, family, items, batch_size)
    result = report(items, answers)
    result["eval_time_s"] = {"n": len(items), "acc": round(time.time() - start, 1)}
    return result


def format_report(result: dict) -> str:
    lines = [f"{'':22s} {'n':>5s} {'acc':>6s} {'yes%':>6s} {'F1/acc+':>8s}"]
    for key, s in result.items():
        if key == "eval_time_s":
            continue
        extra = s.get("f1", s.get("acc_plus"))
        lines.append(f"{key:22s} {s['n']:5d} {s['acc']:6.3f} {s['yes_ratio']:6.3f} {'' if extra is None else f'{extra:8.3f}'}")
    return "\n".join(lines)
