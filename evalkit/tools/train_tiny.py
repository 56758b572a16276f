"""Train the shipped tiny LLaVA checkpoints on the synthetic `shapes` train split (CPU, minutes).

    python -m evalkit.tools.train_tiny --family llava15 --out evalkit/checkpoints/tiny_llava15 [--steps N] [--seed S] [--eval]
    python -m evalkit.tools.train_tiny --family llava16 --out DIR --eval-only   # evaluate a saved checkpoint

The model is the real HF LlavaForConditionalGeneration / LlavaNextForConditionalGeneration built by
`evalkit.tools.tiny` (336 px / patch-14 CLIP tower, llava-hf tokenizer conventions), trained from scratch
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
import itertools
import json
import logging
import math
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np
import torch
from PIL import Image

from datasets_adapters import LLAVA_SHORT_ANSWER
from datasets_adapters.shapes import TrainExample, train_examples
from datasets_adapters.shapes_scene import COLORS, SHAPES, SIDES, draw
from evalkit.images import expand_to_square
from evalkit.models.prefix import cache_keyword, output_cache
from evalkit.fileio import write_json_atomic
from evalkit.models.prompts import render_prompt
from evalkit.tools.tiny import build_model, build_processor, build_tokenizer
from evalkit.tools.tiny_eval import evaluate, format_report

log = logging.getLogger("evalkit.tools.train_tiny")

# Width and depth per family (everything else is the llava-hf geometry). A 64-wide tower reads the
# fill patterns from the padded view but not well across the scales of anyres tiles (base tile squeezed
# to 336 px, high-resolution tiles at 2-3x): LLaVA-1.6 gets a 128-wide one.
SIZES = {"llava15": dict(vision_width=64, vision_layers=3, text_width=128, text_layers=2),
         "llava16": dict(vision_width=128, vision_layers=3, text_width=128, text_layers=2)}
# Stages, in order: "patches": the patch embedding (with a throwaway head) classifies single 14-px
# patches of `patch_images` pooled images by pattern and colour, `patch_steps` steps (seconds);
# "text": the LM alone on scenes written as object tokens, `lm_steps` x `lm_batch` at `lm_lr`;
# "align": vision tower + projector alone pulled patch-wise towards those tokens, `align_steps` x
# `images` at `lr`; "image": everything on real images and questions, `steps` x `images`, vision at
# `lr_images`, the LM at `lm_lr_images`, plus `align_weight` x the alignment loss. `pad_first`: see train().
RECIPES = {
    "llava15": dict(patch_steps=1000, patch_images=200, lm_steps=450, lm_batch=16, lm_lr=5e-4, align_steps=300,
                    images=8, lr=1e-3, steps=500, lr_images=5e-4, lm_lr_images=3e-4, align_weight=1.0),
    # LLaVA-1.6: every stage on the pad geometry first (`pad_first` overrides), then anyres.
    # `p_small`: the anyres stages draw half their objects small, which only the high-res tiles show.
    # Most of the budget goes to the cheap pad steps (what `existence` needs); the anyres alignment
    # (300 steps) is what teaches the tower the tiles' scales, where small objects show.
    "llava16": dict(patch_steps=1000, patch_images=200, lm_steps=350, lm_batch=16, lm_lr=5e-4, align_steps=300,
                    images=4, lr=1e-3, steps=150, lr_images=5e-4, lm_lr_images=3e-4, align_weight=1.0, p_small=0.5,
                    pad_first=dict(align_steps=300, images=8, steps=400)),
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


class SceneTokens:
    """What an image token should look like to the LM: an object patch is the sum of the input
    embeddings of <image>, its colour, its shape and its side words; a background patch is the
    <image> embedding. Stage 1 trains the LM on scenes written this way (one token per object,
    short sequences: fast), stage 2 pulls the projector's output towards them patch by patch."""

    def __init__(self, tokenizer):
        words = list(COLORS) + list(SHAPES) + list(SIDES)
        self.ids = {w: tokenizer(w, add_special_tokens=False)["input_ids"] for w in words}
        self.image_id = tokenizer.convert_tokens_to_ids("<image>")

    def vectors(self, embed: torch.Tensor, scene) -> tuple[torch.Tensor, list[torch.Tensor]]:
        background = embed[self.image_id]
        objects = []
        for o in scene.objects:
            ids = self.ids[o.color] + self.ids[o.shape] + [i for side in o.sides(scene.width, scene.height) for i in self.ids[side]]
            objects.append(background + embed[ids].sum(0))
        return background, objects

    def sequence(self, embed: torch.Tensor, scene) -> torch.Tensor:
        """Stage 1: objects in reading order, 1-3 background tokens around each."""
        background, objects = self.vectors(embed, scene)
        rng = random.Random(scene.key + "/tokens")
        order = sorted(range(len(objects)), key=lambda i: (scene.objects[i].y, scene.objects[i].x))
        rows = [v for i in order for v in [background] * rng.randint(1, 3) + [objects[i]]]
        return torch.stack(rows + [background] * rng.randint(1, 3))

    def patch_targets(self, embed: torch.Tensor, scene, cells: torch.Tensor) -> torch.Tensor:
        """Stage 2: the target of every patch ([tiles, 576] object index or -1 -> [tiles, 576, D])."""
        background, objects = self.vectors(embed.detach(), scene)
        table = torch.stack([*objects, background])
        return table[cells]  # index -1 is the background row


def patch_cells(scene, family: str, processor, grid: int = 24, cover: float = 0.2) -> torch.Tensor:
    """The object under each vision patch ([tiles, 576]; -1 = background), found by sending a label
    image through the same geometry as the pixels (LLaVA's square padding or the anyres tiling)."""
    labels = draw(scene, labels=True)
    if family == "llava15":
        side = max(scene.width, scene.height)
        square = Image.new("L", (side, side), 0)
        square.paste(labels, ((side - scene.width) // 2, (side - scene.height) // 2))
        tiles = np.asarray(square.resize((grid * 14, grid * 14), Image.NEAREST))[None]
    else:
        out = processor.image_processor(images=[labels.convert("RGB")], resample=Image.NEAREST, do_rescale=False,
                                        do_normalize=False, return_tensors="np")
        tiles = out["pixel_values"][0][:, 0].astype(np.int64)
    n = tiles.shape[0]
    blocks = tiles.reshape(n, grid, 14, grid, 14).transpose(0, 1, 3, 2, 4).reshape(n, grid * grid, 196)
    cover_k = np.stack([(blocks == k + 1).mean(-1) for k in range(len(scene.objects))], -1)
    return torch.from_numpy(np.where(cover_k.max(-1) >= cover, cover_k.argmax(-1), -1))


def prefix_length(row: list[int], image_id: int) -> int:
    """Tokens up to and including the last image token: the part every question of an image shares."""
    return max(i for i, t in enumerate(row) if t == image_id) + 1


def qa_loss(model, encoder: Encoder, ids: list[list[int]], qas, prefix: dict) -> tuple[torch.Tensor, int, int]:
    """(summed loss over answer+EOS tokens, tokens, per question: first answer token right) for one
    image's questions.
    The prompt up to the last image token runs once (`prefix`: pixels or embeddings); its KV cache
    is repeated for every question, which equals running each question on its own."""
    cut = prefix_length(ids[0], encoder.image_id)
    cache = output_cache(model(**prefix, use_cache=True))
    n = len(ids)
    cache.batch_select_indices(torch.zeros(n, dtype=torch.long))
    rows = [row[cut:] + encoder.answer_ids[qa.answer] for row, qa in zip(ids, qas)]
    inputs = torch.full((n, max(map(len, rows))), encoder.tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full_like(inputs, -100)
    for r, (row, qa) in enumerate(zip(rows, qas)):
        k = len(encoder.answer_ids[qa.answer])
        inputs[r, : len(row)] = torch.tensor(row)
        labels[r, len(row) - k - 1: len(row) - 1] = torch.tensor(row[-k:])
    # Right padding is harmless here: pads come after every supervised position (causal attention).
    logits = model(input_ids=inputs, use_cache=False, **{cache_keyword(model): cache}).logits
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="sum")
    first = (labels != -100).float().argmax(dim=1)
    rows_ = torch.arange(n)
    correct = (logits[rows_, first].argmax(-1) == labels[rows_, first]).tolist()
    return loss, int((labels != -100).sum()), correct


def question_kind(question: str) -> str:
    """existence | color | count | position | object (POPE-style), from the templates."""
    words = question.split()
    if "exactly" in words:
        return "count"
    if " on the " in question:
        return "position"
    if words[1] == "the":
        return "color"
    return "existence" if len(words) == 7 else "object"


def image_loss(model, encoder: Encoder, example: TrainExample) -> tuple[torch.Tensor, int, list]:
    pixels, ids = encoder.encode(example.image, [qa.question for qa in example.qas])
    cut = prefix_length(ids[0], encoder.image_id)
    return qa_loss(model, encoder, ids, example.qas, {"input_ids": torch.tensor([ids[0][:cut]]), **pixels})


def text_loss(model, encoder: Encoder, tokens: SceneTokens, example: TrainExample) -> tuple[torch.Tensor, int, list]:
    """Stage 1: the scene written as one token per object where the image goes."""
    embed = model.get_input_embeddings()
    sequence = tokens.sequence(embed.weight, example.scene)
    token = encoder.processor.image_token
    ids = [encoder.tokenizer(encoder.prompt(qa.question).replace(token, token * len(sequence)))["input_ids"]
           for qa in example.qas]
    cut = prefix_length(ids[0], encoder.image_id)
    prefix = torch.tensor([ids[0][:cut]])
    embeds = embed(prefix).clone()
    embeds[0, prefix[0] == encoder.image_id] = sequence
    return qa_loss(model, encoder, ids, example.qas, {"inputs_embeds": embeds})


def pretrain_patches(model, encoders: Sequence[Encoder], seed: int, steps: int, n_images: int) -> dict:
    """Stage "patches": the patch embedding (a linear map of each 14x14 patch) learns to separate
    colours and fill patterns, through a throwaway MLP head, on single patches of pooled images
    (cheap: no transformer). From scratch, the tower otherwise needs far more images than the
    budget allows before shape questions leave chance. Patches are pooled over the geometries of
    `encoders` (anyres tiles show the patterns at other scales than the padded 336-px view)."""
    conv = model.model.vision_tower.embeddings.patch_embedding
    width = conv.out_channels
    patches, labels = [], []
    for encoder in encoders:
        for example in itertools.islice(train_examples(seed=seed, start=10**7), n_images):  # a range stage 2 never reaches
            pixels, _ = encoder.encode(example.image, ["?"])
            tiles = pixels["pixel_values"].reshape(-1, 3, 336, 336)
            cells = patch_cells(example.scene, encoder.family, encoder.processor)
            shape, color = torch.full(cells.shape, len(SHAPES)), torch.full(cells.shape, len(COLORS))  # background
            for k, o in enumerate(example.scene.objects):
                shape[cells == k], color[cells == k] = SHAPES.index(o.shape), list(COLORS).index(o.color)
            patches.append(tiles.reshape(-1, 3, 24, 14, 24, 14).permute(0, 2, 4, 1, 3, 5).reshape(-1, 3 * 14 * 14))
            labels.append(torch.stack([shape.flatten(), color.flatten()], -1))
    x, y = torch.cat(patches), torch.cat(labels)
    on_object = torch.nonzero(y[:, 0] < len(SHAPES))[:, 0]
    head = torch.nn.Sequential(torch.nn.LayerNorm(width), torch.nn.Linear(width, 2 * width), torch.nn.GELU(),
                               torch.nn.Linear(2 * width, len(SHAPES) + len(COLORS) + 2))
    optimizer = torch.optim.AdamW([conv.weight, *head.parameters()], lr=2e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):  # half object patches (few), half any
        rows = torch.cat([on_object[torch.randint(len(on_object), (128,), generator=generator)],
                          torch.randint(len(x), (128,), generator=generator)])
        out = head(x[rows] @ conv.weight.reshape(width, -1).T)
        loss = (torch.nn.functional.cross_entropy(out[:, : len(SHAPES) + 1], y[rows, 0])
                + torch.nn.functional.cross_entropy(out[:, len(SHAPES) + 1:], y[rows, 1]))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    with torch.no_grad():
        out = head(x[on_object] @ conv.weight.reshape(width, -1).T)
        shape_acc = (out[:, : len(SHAPES) + 1].argmax(-1) == y[on_object, 0]).float().mean().item()
    log.info("patches: %d patches of %d images x %d geometries, object-patch pattern accuracy %.3f", len(x), n_images,
             len(encoders), shape_acc)
    return {"stage": "patches", "steps": steps, "loss": loss.item(), "pattern_acc": round(shape_acc, 3)}


def train(family: str, out_dir: Path, steps: Optional[int] = None, seed: int = 0, lm_steps: Optional[int] = None,
          threads: int = 1, log_every: int = 25) -> dict:
    """Train one tiny checkpoint from scratch and save it (with its processor) to `out_dir`.
    A recipe with `pad_first` (LLaVA-1.6) runs those stages on the LLaVA-1.5 geometry first (576
    image tokens per image instead of up to ~2.9k: about 3x cheaper per step), then moves the
    same weights (the architectures share every parameter but `image_newline`) to anyres."""
    recipe = dict(RECIPES[family])
    recipe["steps"] = recipe["steps"] if steps is None else steps
    recipe["lm_steps"] = recipe["lm_steps"] if lm_steps is None else lm_steps
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    start, history, applied = time.time(), [], dict(recipe)
    stream = train_examples(seed=seed)
    tokenizer = build_tokenizer()
    model = build_model(family, tokenizer, seed=seed, init_std=0.02, **SIZES[family]).train()
    if recipe.get("pad_first"):
        pad_model = build_model("llava15", tokenizer, seed=seed, init_std=0.02, **SIZES[family]).train()
        fit(pad_model, tokenizer, "llava15", {**recipe, **recipe["pad_first"]}, stream, seed, history, start,
            log_every, "pad ")
        missing, unexpected = model.load_state_dict(pad_model.state_dict(), strict=False)
        assert missing == ["model.image_newline"] and not unexpected, (missing, unexpected)
        recipe = {**recipe, "patch_steps": 0, "lm_steps": 0}  # done on the pad model
        if recipe.get("p_small"):  # more small objects, which only the high-resolution tiles show
            stream = train_examples(seed=seed, start=10**6, p_small=recipe["p_small"])
    processor = fit(model, tokenizer, family, recipe, stream, seed, history, start, log_every)
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return {"family": family, "seed": seed, "recipe": applied, "sizes": SIZES[family], "threads": threads,
            "train_time_s": round(time.time() - start, 1), "history": history}


def fit(model, tokenizer, family: str, recipe: dict, stream, seed: int, history: list, start: float,
        log_every: int = 25, prefix: str = ""):
    """The stages of `recipe` (those with steps) on `model` (built with `tokenizer`), logging into
    `history`; returns the family's processor."""
    processor = build_processor(family, tokenizer)
    encoder, tokens = Encoder(processor, family), SceneTokens(tokenizer)
    captured = {}
    hook = model.model.multi_modal_projector.register_forward_hook(lambda m, i, out: captured.__setitem__("patches", out))

    def run_stage(name, n_steps, per_step, groups, loss_fn, decay=True):
        """AdamW; each group warms up over its first tenth of steps after `start` (frozen before), then
        keeps its rate (decay=False) or follows a cosine down to a tenth."""
        optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.98), weight_decay=0.01)
        window = defaultdict(float)
        for step in range(n_steps):
            for group in optimizer.param_groups:
                begin = group.get("start", 0)
                warm = max(1, (n_steps - begin) // 10)
                cosine = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / n_steps)) if decay else 1.0
                group["lr"] = group["peak"] * min(1.0, max(0, step + 1 - begin) / warm) * cosine
            examples = [next(stream) for _ in range(per_step)]
            total = 2 * sum(len(e.qas) for e in examples)  # answer + EOS per question
            for example in examples:
                loss, n_tokens, correct, align = loss_fn(example)
                (loss / total + recipe["align_weight"] * align / per_step).backward()
                for key, value in (("loss", loss.item()), ("tokens", n_tokens), ("correct", sum(correct)),
                                   ("questions", len(example.qas)), ("align", float(torch.as_tensor(align).detach())),
                                   ("images", 1)):
                    window[key] += value
                for qa, ok in zip(example.qas, correct):
                    window["n_" + question_kind(qa.question)] += 1
                    window["ok_" + question_kind(qa.question)] += ok
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if (step + 1) % log_every == 0 or step + 1 == n_steps:
                row = {"stage": name, "step": step + 1, "loss": window["loss"] / max(1, window["tokens"]),
                       "answer_acc": window["correct"] / max(1, window["questions"]), "align": window["align"] / window["images"],
                       "elapsed_s": round(time.time() - start, 1),
                       "by_kind": {k[2:]: round(window["ok_" + k[2:]] / v, 3) for k, v in window.items() if k[:2] == "n_"}}
                history.append(row)
                log.info("%(stage)s step %(step)d loss %(loss).4f answer acc %(answer_acc).3f align %(align).3f "
                         "%(elapsed_s).0fs %(by_kind)s", row)
                window.clear()

    def stage1(example):
        loss, n_tokens, correct = text_loss(model, encoder, tokens, example)
        return loss, n_tokens, correct, 0.0

    def alignment(example) -> torch.Tensor:
        """Relative squared error of the projector's patches (hooked) against their scene tokens."""
        patches = captured["patches"]
        cells = patch_cells(example.scene, family, processor)
        target = tokens.patch_targets(model.get_input_embeddings().weight, example.scene, cells)
        error = ((patches - target) ** 2).mean(-1) / (target**2).mean()
        # object patches are few: weigh them as much as all the background together
        return error[cells < 0].mean() if (cells < 0).all() else 0.5 * (error[cells >= 0].mean() + error[cells < 0].mean())

    def align_only(example):
        pixels, _ = encoder.encode(example.image, ["?"])
        model.model.get_image_features(**pixels)  # the hook keeps the projector output
        return torch.zeros(()), 0, [], alignment(example)

    def stage2(example):
        loss, n_tokens, correct = image_loss(model, encoder, example)
        return loss, n_tokens, correct, alignment(example)

    lm = [p for n, p in model.named_parameters() if n.startswith(("model.language_model", "lm_head"))]
    vision = [p for n, p in model.named_parameters() if not n.startswith(("model.language_model", "lm_head"))]
    if recipe["patch_steps"]:
        geometries = [Encoder(build_processor(f, tokenizer), f) for f in recipe.get("patch_geometries", [family])]
        history.append(pretrain_patches(model, geometries, seed, recipe["patch_steps"], recipe["patch_images"]))
    run_stage(prefix + "text", recipe["lm_steps"], recipe["lm_batch"], [{"params": lm, "peak": recipe["lm_lr"]}], stage1,
              decay=False)
    run_stage(prefix + "align", recipe["align_steps"], recipe["images"], [{"params": vision, "peak": recipe["lr"]}],
              align_only)
    run_stage(prefix + "image", recipe["steps"], recipe["images"],
              [{"params": vision, "peak": recipe["lr_images"]}, {"params": lm, "peak": recipe["lm_lr_images"]}], stage2)
    hook.remove()
    return processor


def main(argv: Optional[Iterable[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evalkit.tools.train_tiny", description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=sorted(RECIPES), required=True)
    parser.add_argument("--out", type=Path, required=True, help="checkpoint directory (model + processor)")
    parser.add_argument("--steps", type=int, default=None, help="image-stage steps (default: the family's recipe)")
    parser.add_argument("--lm-steps", type=int, default=None, help="text-stage steps (default: the family's recipe)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: fastest on a shared CPU; results depend on it)")
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--eval", action="store_true", help="evaluate on the shapes eval set after training")
    parser.add_argument("--eval-only", action="store_true", help="evaluate the checkpoint in --out, no training")
    parser.add_argument("--eval-images", type=int, default=24)
    parser.add_argument("--eval-seed", type=int, default=1_000_003)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.eval_only:
        info = train(args.family, args.out, args.steps, args.seed, args.lm_steps, threads=args.threads,
                     log_every=args.log_every)
        write_json_atomic(args.out / "training.json", info, indent=1)
        log.info("trained in %.0fs -> %s", info["train_time_s"], args.out)
    if args.eval or args.eval_only:
        torch.set_num_threads(args.threads)
        result = evaluate(args.out, args.family, args.eval_images, args.eval_seed)
        print(format_report(result))
        print(json.dumps(result))


if __name__ == "__main__":
    main()
