"""`python -m evalkit.tools.bench` — throughput of the real runner path, printed as one table.

POPE-style `shapes` items (6 questions per image, mixed aspect ratios) run through `iterate_predictions` on
tiny LLaVA-1.5 and LLaVA-1.6 checkpoints and on a "vision-heavy" LLaVA-1.5 whose vision tower
costs far more than its language model. Each model runs the same items as: batch size 1; batched;
batched + feature cache ("feat": one vision encode per image); batched + feature cache + shared
image prefix ("feat+pfx": the language model also runs the prompt up to the image once per image);
and yes/no logit mode on top. Columns: items/s and the ratio to bs=1, vision-tower encodes and
image preprocessings per item, padding, the share of wall time outside the model (image decoding,
preprocessing, collation, bookkeeping), and whether the answers equal bs=1 (logit mode: the
decision equals the bs=1 greedy answer where that answer is a clean yes/no; dp = largest
|p_yes - greedy first-step p_yes|).

Random tiny models babble, which would make greedy decoding look slower than a real model that
says "Yes</s>". Unless a trained tiny checkpoint ships in evalkit/checkpoints/, the random ones
are primed (`prime_yes_no`) to answer ▁Yes/▁No then </s>, like LLaVA does on these prompts
(`--no-prime` keeps them babbling up to --max-new-tokens).

How this carries to real checkpoints: in LLaVA-1.5-7B the vision tower is ~5% of the prefill FLOPs
(CLIP-L on 577 tokens vs 7B on ~640), in LLaVA-NeXT-7B ~6%, so there the feature cache saves about
that much GPU time plus the CPU preprocessing of repeated images; the vision-heavy model shows the
case where the tower dominates. The shared prefix is the large saving on real models: the image
tokens are ~95% of each prompt, so 6 questions per image cost about one prefill plus 6 short ones.
Logit mode saves the decode steps (one, for "Yes</s>").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

from evalkit.models.llava import LlavaModel
from evalkit.decoding.base import DecodingMethod
from evalkit.decoding.greedy import Greedy
from evalkit.decoding.yesno_logits import YesNoLogits

from evalkit.scoring.parse import parse_answer
from evalkit.types import Item
from evalkit.tools.bench_setup import MODELS, bench_items, checkpoint, measure, prime_yes_no, shipped_checkpoint  # noqa: F401


def compare(result: dict, base: dict, mode: str) -> str:
    if mode != "yesno_logits":
        same = sum(result["answers"][k] == base["answers"][k] for k in base["answers"])
        return f"{same}/{len(base['answers'])}"
    clean = {k: parse_answer(v, "strict") for k, v in base["answers"].items()}
    clean = {k: v for k, v in clean.items() if v in ("yes", "no")}
    same = sum(result["answers"][k].lower() == v for k, v in clean.items())
    dp = max((abs(result["p_yes"][k] - base["p_yes"][k]) for k in base["p_yes"] if base["p_yes"][k] is not None),
             default=float("nan"))
    return f"{same}/{len(clean)} clean, dp {dp:.0e}"


# --decoders: items/s of each decoding preset against greedy, measured in one run (issue 18).
DECODER_PRESETS = ("greedy", "sample", "apc_sample", "vcd", "icd", "m3id", "yesno_logits", "contrastive_yesno")


def decoder_rows(models: list[str], items: list[Item], batch_size: int, max_new_tokens: int, repeats: int,
                 scratch: Path) -> list[str]:
    """Each preset of conf/decoding (as a run composes it, max_new_tokens capped as greedy's) on the same items,
    batched with the feature cache and shared prefix, on each model; ratios to greedy and, for the
    contrastive ones, to the same sampler without contrast: a contrastive step runs the positive
    and negative rows as one forward of 2B rows, so it should cost about twice the rows of its
    plain counterpart, not two passes over the batch."""
    from evalkit.registry import option_node
    from evalkit.decoding.base import method_class

    def build(name: str) -> DecodingMethod:
        node = option_node("decoding", name)
        if "max_new_tokens" in node:
            node["max_new_tokens"] = min(int(node["max_new_tokens"] or max_new_tokens), max_new_tokens)
        return method_class(node.pop("_target_"))(**node)

    plain = {"vcd": "sample", "icd": "sample", "apc_sample": "sample", "m3id": "greedy", "sample": "greedy",
             "contrastive_yesno": "yesno_logits"}
    header = f"{'model':<13}{'decoding':<19}{'items/s':>9}{'vs greedy':>10}{'vs plain':>22}{'enc/item':>9}"
    rows = [header, "-" * len(header)]
    for name in models:
        family, sizes = MODELS[name]
        model = LlavaModel(name=name, path=str(checkpoint(family, scratch, **sizes)), family=family, device="cpu")
        if sizes or shipped_checkpoint(family) is None:
            prime_yes_no(model, items)
        speed: dict[str, dict] = {}
        for preset in DECODER_PRESETS:
            method = build(preset)
            model.keep_pixels = False  # only the noised-image presets keep pixels beside cached features
            method.prepare(model)
            measure(model, items[:4], 2, method, cache="feat+pfx")  # warm-up
            speed[preset] = max((measure(model, items, batch_size, method, "feat+pfx") for _ in range(repeats)),
                                key=lambda r: r["items_per_s"])
        greedy = speed["greedy"]["items_per_s"]
        for preset, result in speed.items():
            base = plain.get(preset)
            versus = f"{result['items_per_s'] / speed[base]['items_per_s']:.2f}x {base}" if base else "-"
            rows.append(f"{name:<13}{preset:<19}{result['items_per_s']:>9.1f}{result['items_per_s'] / greedy:>9.2f}x"
                        f"{versus:>22}{result['encodes']:>9.2f}")
    return rows


def caption_table(models: list[str], n_images: int, batch_size: int, max_new_tokens: int, scratch: Path) -> list[str]:
    """Caption rows: the shapes describe items (one open-ended caption per image, greedy up to
    `max_new_tokens`, stopping at EOS) at batch size 1 and batched, on the LLaVA-1.5 / 1.6 models
    (the shipped checkpoints when they are there): items/s, generated tokens per item, padding and
    whether the batched captions equal bs=1's."""
    from datasets_adapters.shapes import ShapesDataset

    items = ShapesDataset(n_images=n_images, tasks=["describe"]).load()
    greedy = Greedy(max_new_tokens=max_new_tokens)
    lines = [f"captions: {len(items)} shapes describe items, greedy max_new_tokens={max_new_tokens} (stop at EOS)",
             f"{'model':<13}{'bs':>3}{'items/s':>9}{'vs bs=1':>8}{'tok/item':>9}{'padding':>8}  same as bs=1"]
    for name in [m for m in models if not MODELS[m][1]]:  # the caption-capable geometries, not the vision-heavy toy
        family = MODELS[name][0]
        model = LlavaModel(name=name, path=str(checkpoint(family, scratch)), family=family, device="cpu")
        base = None
        for bs in (1, batch_size):
            result = measure(model, items, bs, greedy, cache="feat+pfx")
            texts = result["answers"]
            tokens = sum(len(model.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts.values()) / len(texts)
            base = base or result
            lines.append(f"{name:<13}{bs:>3}{result['items_per_s']:>9.2f}{result['items_per_s'] / base['items_per_s']:>7.2f}x"
                         f"{tokens:>9.1f}{result['padding']:>8.1%}  {texts == base['answers']}")
    return lines

def whole_command_rows(argv: list[str]) -> None:
    """`--whole-command [options]`: whole `python -m evalkit` commands at 1,000 items, 1 and 6
    questions per image, both families, beside lmms-eval where its environment exists, with the
    share of time outside the model and the start-up per row (evalkit.tools.bench_command)."""
    from evalkit.tools.bench_command import main as whole_command

    whole_command(argv)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if "--whole-command" in argv:
        return whole_command_rows([a for a in argv if a != "--whole-command"])
    if any(a == "--engines" or a.startswith("--engines=") for a in argv):
        from evalkit.tools.bench_engines import main as engine_rows  # hf against served engines (docs/engines.md)

        return engine_rows(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--questions-per-image", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--max-new-tokens", type=int, default=16)
    # One thread by default: tiny models gain little from more, and when other processes share the
    # cores, oversubscribed torch threads slow small ops down 10-30x and make the table noise.
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per row; the fastest counts")
    parser.add_argument("--decoders", action="store_true", help="instead: items/s of each decoding preset "
                        "(greedy, sample, apc_sample, vcd, icd, m3id, yes/no variants) against greedy")
    parser.add_argument("--short-answer", action="store_true", help="instead: short-answer VQA rows at 1 and 6 "
                        "questions per image (evalkit.tools.bench_short)")
    parser.add_argument("--caption-images", type=int, default=4, help="describe items in the caption rows (0: none)")
    parser.add_argument("--caption-tokens", type=int, default=512, help="max_new_tokens of the caption rows")
    parser.add_argument("--no-prime", action="store_true", help="keep random tiny models babbling (greedy then "
                        "runs max_new_tokens steps; shows logit mode against long answers)")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    if args.short_answer:
        from evalkit.tools.bench_short import short_answer_rows

        with tempfile.TemporaryDirectory() as scratch:
            rows = short_answer_rows(args.models, args.images * 6, args.batch_size, args.max_new_tokens, args.repeats,
                                     Path(scratch))
        print(f"evalkit.tools.bench --short-answer: CPU threads={torch.get_num_threads()}")
        print("\n".join(rows))
        return
    items = bench_items(args.images * args.questions_per_image, args.questions_per_image)
    if args.decoders:
        with tempfile.TemporaryDirectory() as scratch:
            rows = decoder_rows(args.models, items, args.batch_size, args.max_new_tokens, args.repeats, Path(scratch))
        print(f"evalkit.tools.bench --decoders: {len(items)} items, batch size {args.batch_size}, feature cache + "
              f"shared prefix, max_new_tokens <= {args.max_new_tokens}, CPU threads={torch.get_num_threads()}")
        print("\n".join(rows))
        return
    greedy = Greedy(max_new_tokens=args.max_new_tokens)
    logits = YesNoLogits()
    bs = args.batch_size
    # Logit mode twice: against batched greedy without cache (row 1) and with it (row 3), like for like.
    runs = [("greedy", 1, "-", greedy), ("greedy", bs, "-", greedy), ("greedy", bs, "feat", greedy),
            ("greedy", bs, "feat+pfx", greedy), ("yesno_logits", bs, "-", logits), ("yesno_logits", bs, "feat+pfx", logits)]
    header = (f"{'model':<13}{'mode':<8}{'bs':>3}{'cache':>9}{'items/s':>9}{'vs bs=1':>8}{'enc/item':>9}"
              f"{'prep/item':>10}{'padding':>8}{'outside':>8}  same as bs=1")
    rows, goals = [header, "-" * (len(header) + 10)], []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models:
            family, sizes = MODELS[name]
            path = checkpoint(family, Path(scratch), **sizes)
            model = LlavaModel(name=name, path=str(path), family=family, device="cpu")
            if not args.no_prime and (sizes or shipped_checkpoint(family) is None):
                prime_yes_no(model, items)
            measure(model, items[:4], 2, greedy, cache="feat+pfx")  # warm-up: first-call allocations, lazy imports
            results = []
            for mode, batch_size, cache, decoding in runs:
                result = max((measure(model, items, batch_size, decoding, cache) for _ in range(args.repeats)),
                             key=lambda r: r["items_per_s"])
                base = results[0] if results else result
                results.append(result)
                rows.append(
                    f"{name:<13}{'logits' if mode == 'yesno_logits' else mode:<8}{batch_size:>3}{cache:>9}"
                    f"{result['items_per_s']:>9.1f}{result['items_per_s'] / base['items_per_s']:>7.2f}x"
                    f"{result['encodes']:>9.2f}{result['preps']:>10.2f}{result['padding']:>8.1%}"
                    f"{result['outside']:>8.1%}"
                    f"  {compare(result, base, mode)}"
                )
            speed = [r["items_per_s"] for r in results]
            goals.append(f"{name}: batched+cache {speed[3] / speed[0]:.2f}x bs=1 "
                         f"(features only {speed[2] / speed[0]:.2f}x); "
                         f"logits vs greedy like for like: {speed[4] / speed[1]:.2f}x batched, {speed[5] / speed[3]:.2f}x "
                         f"batched+cache; logits+cache {speed[5] / speed[1]:.2f}x batched greedy, "
                         f"{speed[5] / speed[0]:.2f}x bs=1 greedy")
        captions = (caption_table(args.models, args.caption_images, bs, args.caption_tokens, Path(scratch))
                    if args.caption_images else [])
    print(f"evalkit.tools.bench: {len(items)} items ({args.images} images x {args.questions_per_image} questions), "
          f"greedy max_new_tokens={args.max_new_tokens}, CPU threads={torch.get_num_threads()}")
    print("\n".join(rows))
    print("\n".join(goals))
    print("\n".join(captions))


if __name__ == "__main__":
    main()
