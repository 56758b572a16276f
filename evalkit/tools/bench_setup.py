"""What every bench shares: the benchmark models, their items, checkpoints (shipped or built from
config), priming random ones to answer like LLaVA, and one timed measurement. Kept apart from
`bench.py` so the benches that build on it (short answers, lmms-eval, the GPU check) import it
without importing each other."""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import torch

from evalkit.config import PACKAGE_DIR
from evalkit.decoding.base import DecodingMethod
from evalkit.decoding.yesno_logits import YesNoLogits
from evalkit.models.llava import LlavaModel
from evalkit.runner import iterate_predictions, padding_fraction
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


