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
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from evalkit.config import PACKAGE_DIR
from evalkit.models.llava import LlavaModel
from evalkit.decoding.base import DecodingMethod
from evalkit.decoding.greedy import Greedy
from evalkit.decoding.yesno_logits import YesNoLogits
from evalkit.runner import iterate_predictions, padding_fraction
from evalkit.scoring.parse import parse_answer
from evalkit.types import Item


# name -> (family, tiny size overrides). The vision-heavy tower: 8 layers at width 256 against a
# 2-layer width-64 language model, so the vision tower is most of the cost (as the brief asks).
MODELS = {
    "llava15": ("llava15", {}),
    "llava16": ("llava16", {}),
    "llava15-vis": ("llava15", {"vision_width": 256, "vision_layers": 8}),
}


def bench_items(n: int, questions_per_image: int = 6) -> list[Item]:
    """POPE-style items from the `shapes` eval set (what the shipped checkpoints were trained for):
    n // questions_per_image images of mixed aspect ratios, each with its first questions_per_image
    object probes over the three splits; questions about one image are spread over the list (as
    when a benchmark orders by question), so the planner has to bring them together."""
    from datasets_adapters.shapes import ShapesDataset

    n_images = max(1, n // questions_per_image)
    per_image: dict[str, list[Item]] = {}
    for item in ShapesDataset(split="eval", n_images=n_images + 8, tasks=["pope"]).load():
        rows = per_image.setdefault(item.group, [])
        if len(rows) < questions_per_image:
            rows.append(item)
    groups = [rows for rows in per_image.values() if len(rows) == questions_per_image][:n_images]
    items = [rows[q] for q in range(questions_per_image) for rows in groups]
    return items[:n]


def shipped_checkpoint(family: str) -> Path | None:
    path = PACKAGE_DIR / "checkpoints" / f"tiny_{family}"
    return path if (path / "config.json").is_file() else None


def checkpoint(family: str, scratch: Path, **sizes) -> Path:
    shipped = None if sizes else shipped_checkpoint(family)
    if shipped is not None:
        return shipped
    from evalkit.tools.tiny import save_tiny

    return save_tiny(family, scratch / f"{family}-{abs(hash(tuple(sorted(sizes.items()))))}", init_std=0.4, **sizes)


@torch.no_grad()
def prime_yes_no(model: LlavaModel, items: list[Item] | None = None, margin: float = 20.0, seed: int = 0) -> None:
    """Make a random tiny model answer like a trained one: ▁Yes or ▁No (which one depends on the
    input), then </s>. A logit bias lifts both answer tokens above the rest; their embeddings get
    a large norm along a direction u that the </s> row reads, so the position after the answer
    predicts </s>. With `items`, the yes bias is shifted so that about half the answers are yes."""
    hf, tok = model.model, model.tokenizer
    head, embed = hf.get_output_embeddings(), hf.get_input_embeddings()
    answer_ids = [tok.convert_tokens_to_ids(t) for t in ("▁Yes", "▁No")]
    u = torch.randn(head.weight.shape[1], generator=torch.Generator().manual_seed(seed))
    u /= u.norm()
    bias = torch.zeros(head.weight.shape[0], dtype=head.weight.dtype, device=head.weight.device)
    bias[answer_ids] = margin
    head.bias = torch.nn.Parameter(bias)
    embed.weight[answer_ids] = (1e4 * u).to(embed.weight)
    head.weight[tok.eos_token_id] = (8.0 * u).to(head.weight)
    if items:
        p = [x.p_yes for b, _ in iterate_predictions(items, model, YesNoLogits(), 8) for x in b]
        logits = [math.log(max(v, 1e-12) / max(1 - v, 1e-12)) for v in p]
        head.bias[answer_ids[0]] -= statistics.median(logits)


def measure(model: LlavaModel, items: list[Item], batch_size: int, decoding: DecodingMethod, cache: str) -> dict:
    # A fresh, empty cache per measurement.
    model.configure_cache({"enabled": cache != "-", "share_prefix": cache == "feat+pfx"})
    stats: dict = {}
    answers, p_yes = {}, {}
    start = time.perf_counter()
    for predictions, _ in iterate_predictions(items, model, decoding, batch_size, stats=stats):
        for p in predictions:
            assert p.error is None, p.error
            answers[p.item_id], p_yes[p.item_id] = p.text, p.p_yes
    wall = time.perf_counter() - start
    return {
        "items_per_s": len(items) / wall,
        "outside": 1 - stats["generate_time_s"] / wall,
        "padding": padding_fraction(stats),
        "encodes": stats["vision_encodes"] / len(items),
        "preps": stats["image_preps"] / len(items),
        "answers": answers,
        "p_yes": p_yes,
    }


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
    parser.add_argument("--no-prime", action="store_true", help="keep random tiny models babbling (greedy then "
                        "runs max_new_tokens steps; shows logit mode against long answers)")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    items = bench_items(args.images * args.questions_per_image, args.questions_per_image)
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
    print(f"evalkit.tools.bench: {len(items)} items ({args.images} images x {args.questions_per_image} questions), "
          f"greedy max_new_tokens={args.max_new_tokens}, CPU threads={torch.get_num_threads()}")
    print("\n".join(rows))
    print("\n".join(goals))


if __name__ == "__main__":
    main()
