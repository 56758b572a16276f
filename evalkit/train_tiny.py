"""Train the shipped tiny LLaVA checkpoints on the synthetic `shapes` train split (CPU, minutes).

    python -m evalkit.train_tiny --family llava15 --out evalkit/checkpoints/tiny_llava15 [--steps N] [--seed S] [--eval]
    python -m evalkit.train_tiny --family llava16 --out DIR --eval-only   # evaluate a saved checkpoint

The model is the real HF LlavaForConditionalGeneration / LlavaNextForConditionalGeneration built by
`evalkit.tiny` (336 px / patch-14 CLIP tower, llava-hf tokenizer conventions), trained from scratch
to answer yes/no questions with "Yes"/"No" + EOS (loss on those two tokens only). Prompts and
images are prepared exactly as evaluation prepares them: LLaVA's evaluation prompt
(`llava_eval`), expand-to-square with the CLIP mean colour for llava15, the processor's anyres for
llava16.

All questions about one image share the prompt up to the last image token, so each image's prefix
runs once and its KV cache is repeated for its questions: the same loss as running every question
on its own, at the cost of about one sequence per image. `--eval` reports per-category accuracy
with batched, left-padded `model.generate` (first word parsed), as a quick check while iterating;
the harness CLI is the real evaluator.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Optional, Sequence

import torch
from PIL import Image

from datasets_adapters import LLAVA_SHORT_ANSWER
from datasets_adapters.shapes import ShapesDataset, TrainExample, train_examples
from evalkit.images import expand_to_square
from evalkit.models.prompts import render_prompt
from evalkit.tiny import build_model, build_processor, build_tokenizer

log = logging.getLogger("evalkit.train_tiny")

SIZES = dict(vision_width=64, vision_layers=3, text_width=128, text_layers=2)
# Per family: steps, images per step, peak learning rate (AdamW, warm-up then cosine decay).
RECIPES = {
    "llava15": dict(steps=1500, images=8, lr=2e-3),
    "llava16": dict(steps=1500, images=4, lr=2e-3),
}
PROMPT = "llava_eval"


class Encoder:
    """Images and prompts as evaluation prepares them, split into the shared prefix (up to the
    last image token) and each question's suffix."""

    def __init__(self, processor, family: str):
        self.processor, self.family = processor, family
        self.tokenizer = processor.tokenizer
        self.image_id = self.tokenizer.convert_tokens_to_ids(processor.image_token)
        probe = self.prompt("Is there a red circle in the image?")
        base = self.tokenizer(probe)["input_ids"]
        self.answer_ids = {}
        for answer in ("yes", "no"):  # the answer as a continuation of the prompt, then EOS
            ids = self.tokenizer(probe + " " + answer.capitalize())["input_ids"]
            assert ids[: len(base)] == base, "answer tokens must extend the prompt tokens"
            self.answer_ids[answer] = ids[len(base):] + [self.tokenizer.eos_token_id]

    def prompt(self, question: str) -> str:
        return render_prompt(PROMPT, question + LLAVA_SHORT_ANSWER, self.processor)

    def image(self, image: Image.Image) -> Image.Image:
        if self.family == "llava15":
            return expand_to_square(image, self.processor.image_processor.image_mean)
        return image

    def encode(self, image: Image.Image, questions: Sequence[str]) -> tuple[dict, list[list[int]]]:
        """(pixel inputs for one image, the full prompt ids of each question)."""
        out = self.processor(images=[self.image(image)], text=[self.prompt(questions[0])], return_tensors="pt")
        n_image = int((out["input_ids"][0] == self.image_id).sum())
        pixels = {k: out[k] for k in ("pixel_values", "image_sizes") if k in out}
        token = self.processor.image_token
        texts = [self.prompt(q).replace(token, token * n_image) for q in questions]
        ids = [self.tokenizer(t)["input_ids"] for t in texts]
        assert ids[0] == out["input_ids"][0].tolist(), "prompt ids must equal the processor's"
        return pixels, ids


def example_loss(model, encoder: Encoder, example: TrainExample) -> tuple[torch.Tensor, int, int]:
    """(summed loss over answer+EOS tokens, tokens, correct first answers) for one image's questions."""
    pixels, ids = encoder.encode(example.image, [qa.question for qa in example.qas])
    cut = max(i for i, t in enumerate(ids[0]) if t == encoder.image_id) + 1
    prefix = torch.tensor([ids[0][:cut]])
    out = model(input_ids=prefix, **pixels, use_cache=True)
    cache = out.past_key_values
    n = len(ids)
    cache.batch_select_indices(torch.zeros(n, dtype=torch.long))
    suffixes = [row[cut:] + encoder.answer_ids[qa.answer] for row, qa in zip(ids, example.qas)]
    width = max(len(s) for s in suffixes)
    pad = encoder.tokenizer.pad_token_id
    inputs = torch.full((n, width), pad, dtype=torch.long)
    labels = torch.full((n, width), -100, dtype=torch.long)
    for r, (row, qa) in enumerate(zip(suffixes, example.qas)):
        inputs[r, : len(row)] = torch.tensor(row)
        k = len(encoder.answer_ids[qa.answer])
        labels[r, len(row) - k - 1: len(row) - 1] = torch.tensor(row[len(row) - k:])
    # Right padding is harmless here: pads come after every supervised position (causal attention).
    logits = model(input_ids=inputs, past_key_values=cache, use_cache=False).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="sum")
    first = (labels != -100).float().argmax(dim=1)
    rows = torch.arange(n)
    correct = int((logits[rows, first].argmax(-1) == labels[rows, first]).sum())
    return loss, int((labels != -100).sum()), correct


def train(family: str, out_dir: Path, steps: Optional[int] = None, seed: int = 0, images_per_step: Optional[int] = None,
          lr: Optional[float] = None, sizes: Optional[dict] = None, threads: int = 1, log_every: int = 25) -> dict:
    recipe = dict(RECIPES[family])
    steps = recipe["steps"] if steps is None else steps
    images_per_step = images_per_step or recipe["images"]
    lr = lr or recipe["lr"]
    sizes = {**SIZES, **(sizes or {})}
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)

    tokenizer = build_tokenizer()
    processor = build_processor(family, tokenizer)
    model = build_model(family, tokenizer, seed=seed, init_std=0.02, **sizes).train()
    encoder = Encoder(processor, family)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": other, "weight_decay": 0.0}],
                                  lr=lr, betas=(0.9, 0.98))
    warmup = max(1, steps // 20)
    schedule = lambda s: min(1.0, (s + 1) / warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / max(1, steps)))))
    stream = train_examples(seed=seed)
    start, history, window = time.time(), [], defaultdict(float)
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * schedule(step)
        examples = [next(stream) for _ in range(images_per_step)]
        total = 2 * sum(len(e.qas) for e in examples)  # answer + EOS per question
        for example in examples:
            loss, tokens, correct = example_loss(model, encoder, example)
            (loss / total).backward()
            window["loss"] += loss.item()
            window["tokens"] += tokens
            window["correct"] += correct
            window["questions"] += len(example.qas)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if (step + 1) % log_every == 0 or step + 1 == steps:
            row = {"step": step + 1, "loss": window["loss"] / window["tokens"],
                   "answer_acc": window["correct"] / window["questions"], "lr": lr * schedule(step),
                   "elapsed_s": round(time.time() - start, 1)}
            history.append(row)
            log.info("step %(step)d loss %(loss).4f answer acc %(answer_acc).3f lr %(lr).2e %(elapsed_s).0fs", row)
            window.clear()
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    info = {"family": family, "steps": steps, "seed": seed, "images_per_step": images_per_step, "lr": lr,
            "sizes": sizes, "threads": threads, "train_time_s": round(time.time() - start, 1), "history": history}
    return info


# -- quick evaluation ----------------------------------------------------------------------------
def first_word(text: str) -> str:
    words = text.strip().lower().replace(",", " ").replace(".", " ").split()
    return words[0] if words and words[0] in ("yes", "no") else "other"


@torch.inference_mode()
def predict(model, processor, family: str, items: Sequence, batch_size: int = 16) -> dict[str, str]:
    """Greedy answers (first word: yes/no/other) by item id; the questions of one image share batches."""
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


def main(argv: Optional[Iterable[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evalkit.train_tiny", description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=sorted(RECIPES), required=True)
    parser.add_argument("--out", type=Path, required=True, help="checkpoint directory (model + processor)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the family's recipe)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images-per-step", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: fastest on a shared CPU; results depend on it)")
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--eval", action="store_true", help="evaluate on the shapes eval set after training")
    parser.add_argument("--eval-only", action="store_true", help="evaluate the checkpoint in --out, no training")
    parser.add_argument("--eval-images", type=int, default=24)
    parser.add_argument("--eval-seed", type=int, default=1_000_003)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.eval_only:
        info = train(args.family, args.out, args.steps, args.seed, args.images_per_step, args.lr,
                     threads=args.threads, log_every=args.log_every)
        (args.out / "training.json").write_text(json.dumps(info, indent=1))
        log.info("trained in %.0fs -> %s", info["train_time_s"], args.out)
    if args.eval or args.eval_only:
        torch.set_num_threads(args.threads)
        result = evaluate(args.out, args.family, args.eval_images, args.eval_seed)
        print(format_report(result))
        print(json.dumps(result))


if __name__ == "__main__":
    main()
