"""Train the shipped tiny LLaVA checkpoints on the synthetic `shapes` train split (CPU, minutes).

    python -m evalkit.tools.train_tiny --family llava15 --out evalkit/checkpoints/tiny_llava15 [--steps N] [--seed S] [--eval]
    python -m evalkit.tools.train_tiny --family llava16 --out DIR --eval-only   # evaluate a saved checkpoint

The model is the real HF LlavaForConditionalGeneration / LlavaNextForConditionalGeneration built by
`evalkit.tools.tiny` (336 px / patch-14 CLIP tower, llava-hf tokenizer conventions), trained from scratch
to answer yes/no questions with "Yes"/"No" + EOS (loss on those two tokens only) and to describe
each image with its reference caption + EOS (the shapes describe task, `shapes_scene.caption`). Prompts and
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
from typing import Iterable, Optional

import torch

from datasets_adapters.shapes import train_examples
from datasets_adapters.shapes_scene import caption
from evalkit.fileio import write_json_atomic
from evalkit.tools.tiny import build_model, build_processor, build_tokenizer
from evalkit.tools.tiny_eval import evaluate, format_report
from evalkit.tools.train_tiny_losses import (  # noqa: F401  (re-exported: tests and tiny_eval use them here)
    PROMPT,
    Encoder,
    Losses,
    SceneTokens,
    image_loss,
    patch_cells,
    prefix_length,
    pretrain_patches,
    qa_loss,
    question_kind,
    text_loss,
)

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
# `describe_weight`: the text and image stages also learn each image's caption (the shapes describe
# task), its mean per-token loss weighted this much against the yes/no answers' (0: yes/no only).
# The text stage's length (lm_steps 800 / 650, was 450 / 350) is what the multiple-choice rows need: the
# LM answers them at chance for ~300 steps before it learns to copy the letter of the matching option.
# `finetune`: the overrides of `--init CHECKPOINT`, which continues a trained checkpoint instead of
# starting from scratch (no patch / alignment stages, no pad_first; fresh train images). The shipped
# checkpoints are trained from scratch; a fine-tune of the earlier yes/no-only LLaVA-1.6 with these
# overrides learnt to repeat one object instead of describing (docs/tiny_checkpoints.md).
RECIPES = {
    "llava15": dict(patch_steps=1000, patch_images=200, lm_steps=800, lm_batch=16, lm_lr=5e-4, align_steps=300,
                    images=8, lr=1e-3, steps=500, lr_images=5e-4, lm_lr_images=3e-4, align_weight=1.0,
                    describe_weight=0.5,
                    finetune=dict(patch_steps=0, lm_steps=150, lm_batch=8, lm_lr=3e-4, align_steps=0, steps=100,
                                  lr_images=2e-4, lm_lr_images=2e-4)),
    # LLaVA-1.6: every stage on the pad geometry first (`pad_first` overrides), then anyres.
    # `p_small`: the anyres stages draw half their objects small, which only the high-res tiles show.
    # Most of the budget goes to the cheap pad steps (what `existence` needs); the anyres alignment
    # (300 steps) is what teaches the tower the tiles' scales, where small objects show.
    "llava16": dict(patch_steps=1000, patch_images=200, lm_steps=650, lm_batch=16, lm_lr=5e-4, align_steps=300,
                    images=4, lr=1e-3, steps=150, lr_images=5e-4, lm_lr_images=3e-4, align_weight=1.0, describe_weight=0.5,
                    p_small=0.5,
                    pad_first=dict(align_steps=300, images=8, steps=400),
                    finetune=dict(patch_steps=0, lm_steps=150, lm_batch=8, lm_lr=3e-4, align_steps=0, steps=60,
                                  lr_images=2e-4, lm_lr_images=2e-4)),
}

def train(family: str, out_dir: Path, steps: Optional[int] = None, seed: int = 0, lm_steps: Optional[int] = None,
          threads: int = 1, log_every: int = 25, init: Optional[Path] = None) -> dict:
    """Train one tiny checkpoint from scratch and save it (with its processor) to `out_dir`.
    A recipe with `pad_first` (LLaVA-1.6) runs those stages on the LLaVA-1.5 geometry first (576
    image tokens per image instead of up to ~2.9k: about 3x cheaper per step), then moves the
    same weights (the architectures share every parameter but `image_newline`) to anyres.
    With `init` (a checkpoint of this family) training continues from it with the recipe's
    `finetune` overrides, on train images no earlier stage drew."""
    recipe = dict(RECIPES[family])
    if init is not None:
        recipe = {k: v for k, v in {**recipe, **recipe.get("finetune", {})}.items() if k not in ("pad_first", "finetune")}
    recipe["steps"] = recipe["steps"] if steps is None else steps
    recipe["lm_steps"] = recipe["lm_steps"] if lm_steps is None else lm_steps
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    start, history, applied = time.time(), [], dict(recipe)
    stream = train_examples(seed=seed)
    tokenizer = build_tokenizer(letters=True)  # option letters as whole tokens (decoding=choice_logits)
    if init is not None:
        model = checkpoint_class(family).from_pretrained(init).train()
        stream = train_examples(seed=seed, start=2 * 10**6, **({"p_small": recipe["p_small"]} if "p_small" in recipe else {}))
        applied["init"] = {"path": str(init), **_init_record(init)}
    else:
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


def checkpoint_class(family: str):
    from transformers import LlavaForConditionalGeneration, LlavaNextForConditionalGeneration

    return LlavaForConditionalGeneration if family == "llava15" else LlavaNextForConditionalGeneration


def _init_record(init: Path) -> dict:
    """What the --init checkpoint's own training.json says about it (recipe, time), if it has one."""
    try:
        info = json.loads((Path(init) / "training.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: info.get(k) for k in ("recipe", "seed", "train_time_s")}


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
            total = 2 * sum(len(e.qas) + len(e.rows) for e in examples)  # answer + EOS per question
            describe = weight > 0 and name.split()[-1] in ("text", "image")
            caption_total = sum(len(encoder.caption_ids(caption(e.scene))) for e in examples) if describe else 1
            for example in examples:
                losses, align = loss_fn(example, describe)
                (losses.answer / total + weight * losses.caption / caption_total
                 + recipe["align_weight"] * align / per_step).backward()
                for key, value in (("loss", losses.answer.item()), ("tokens", losses.answer_tokens),
                                   ("caption_loss", losses.caption.detach().item()), ("caption_tokens", losses.caption_tokens),
                                   ("correct", sum(losses.correct)), ("questions", len(losses.correct)),
                                   ("align", float(torch.as_tensor(align).detach())), ("images", 1)):
                    window[key] += value
                kinds = [question_kind(qa.question) for qa in example.qas] + [row.kind for row in example.rows]
                for kind, ok in zip(kinds, losses.correct):
                    window["n_" + kind] += 1
                    window["ok_" + kind] += ok
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if (step + 1) % log_every == 0 or step + 1 == n_steps:
                row = {"stage": name, "step": step + 1, "loss": window["loss"] / max(1, window["tokens"]),
                       "answer_acc": window["correct"] / max(1, window["questions"]), "align": window["align"] / window["images"],
                       "caption_loss": window["caption_loss"] / max(1, window["caption_tokens"]),
                       "elapsed_s": round(time.time() - start, 1),
                       "by_kind": {k[2:]: round(window["ok_" + k[2:]] / v, 3) for k, v in window.items() if k[:2] == "n_"}}
                history.append(row)
                log.info("%(stage)s step %(step)d loss %(loss).4f answer acc %(answer_acc).3f caption loss "
                         "%(caption_loss).4f align %(align).3f "
                         "%(elapsed_s).0fs %(by_kind)s", row)
                window.clear()

    weight = recipe.get("describe_weight", 0.0)

    def stage1(example, describe):
        return text_loss(model, encoder, tokens, example, describe), 0.0

    def alignment(example) -> torch.Tensor:
        """Relative squared error of the projector's patches (hooked) against their scene tokens."""
        patches = captured["patches"]
        cells = patch_cells(example.scene, family, processor)
        target = tokens.patch_targets(model.get_input_embeddings().weight, example.scene, cells)
        error = ((patches - target) ** 2).mean(-1) / (target**2).mean()
        # object patches are few: weigh them as much as all the background together
        return error[cells < 0].mean() if (cells < 0).all() else 0.5 * (error[cells >= 0].mean() + error[cells < 0].mean())

    def align_only(example, describe):
        pixels, _ = encoder.encode(example.image, ["?"])
        model.model.get_image_features(**pixels)  # the hook keeps the projector output
        return Losses(torch.zeros(()), 0, [], torch.zeros(()), 0), alignment(example)

    def stage2(example, describe):
        return image_loss(model, encoder, example, describe), alignment(example)

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
    parser.add_argument("--init", type=Path, default=None,
                        help="continue from this checkpoint with the recipe's `finetune` overrides (not from scratch)")
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
                     log_every=args.log_every, init=args.init)
        write_json_atomic(args.out / "training.json", info, indent=1)
        log.info("trained in %.0fs -> %s", info["train_time_s"], args.out)
    if args.eval or args.eval_only:
        torch.set_num_threads(args.threads)
        result = evaluate(args.out, args.family, args.eval_images, args.eval_seed)
        print(format_report(result))
        print(json.dumps(result))


if __name__ == "__main__":
    main()
