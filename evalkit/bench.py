"""`python -m evalkit.bench` — throughput of the real runner path, printed as a table.

Measures items/s at each batch size for the tiny LLaVA-1.5 and LLaVA-1.6 checkpoints on the same
items (mixed aspect ratios), the share of wall time spent outside `generate` (image decoding,
preprocessing, collation, bookkeeping), the padding fraction, and whether every batched answer
equals the batch-size-1 answer. Uses the shipped tiny checkpoints when present, else builds
random tiny ones (same architecture and processor settings) in a temporary directory.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from evalkit.config import PACKAGE_DIR
from evalkit.models.llava import LlavaModel
from evalkit.runner import Decoding, iterate_predictions, padding_fraction
from evalkit.types import Item

SIZES = [(336, 336), (640, 360), (360, 640), (1100, 808), (900, 300), (300, 900), (800, 600), (1008, 336)]


def bench_items(n: int, questions_per_image: int = 2) -> list[Item]:
    """Synthetic items: n // questions_per_image images of mixed aspect ratios, drawn in memory."""
    items = []
    for i in range(max(1, n // questions_per_image)):
        width, height = SIZES[i % len(SIZES)]
        image = Image.new("RGB", (width, height), (40 + 7 * i % 200, 120, 200 - 5 * i % 150))
        ImageDraw.Draw(image).ellipse((width // 4, height // 4, width // 2, height // 2), fill=(220, 30, 30))
        for q in range(questions_per_image):
            colour = ("red", "blue", "green", "yellow", "white", "black")[(i + q) % 6]
            items.append(
                Item(
                    id=f"b{i}-{q}",
                    image=image,
                    question=f"Is there a {colour} circle in the image?",
                    answer="yes" if colour == "red" else "no",
                    prompt_question=f"Is there a {colour} circle in the image?\nAnswer the question using a single word or phrase.",
                )
            )
    return items[:n]


def checkpoint(family: str, scratch: Path) -> Path:
    shipped = PACKAGE_DIR / "checkpoints" / f"tiny_{family}"
    if (shipped / "config.json").is_file():
        return shipped
    from evalkit.tiny import save_tiny

    return save_tiny(family, scratch / family, init_std=0.4)


def measure(model: LlavaModel, items: list[Item], batch_size: int, decoding: Decoding) -> dict:
    stats: dict = {}
    answers = {}
    start = time.perf_counter()
    for predictions, _ in iterate_predictions(items, model, decoding, batch_size, stats=stats):
        answers.update({p.item_id: p.text for p in predictions})
    wall = time.perf_counter() - start
    return {
        "items_per_s": len(items) / wall,
        "wall_s": wall,
        "outside_generate": 1 - stats["generate_time_s"] / wall,
        "padding": padding_fraction(stats),
        "answers": answers,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-items", type=int, default=32)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--families", nargs="+", default=["llava15", "llava16"])
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    items = bench_items(args.n_items)
    decoding = Decoding(mode="greedy", max_new_tokens=args.max_new_tokens)
    header = f"{'model':<14}{'batch':>6}{'items/s':>10}{'vs bs=1':>9}{'outside gen':>13}{'padding':>9}{'same as bs=1':>14}"
    rows = [header, "-" * len(header)]
    with tempfile.TemporaryDirectory() as scratch:
        for family in args.families:
            model = LlavaModel(name=f"tiny_{family}", path=str(checkpoint(family, Path(scratch))), family=family, device="cpu")
            measure(model, items[:2], 1, decoding)  # warm-up: first-call allocations and lazy imports
            baseline = None
            for batch_size in args.batch_sizes:
                result = measure(model, items, batch_size, decoding)
                baseline = baseline or result
                same = sum(result["answers"][k] == baseline["answers"][k] for k in baseline["answers"])
                rows.append(
                    f"{'tiny_' + family:<14}{batch_size:>6}{result['items_per_s']:>10.2f}"
                    f"{result['items_per_s'] / baseline['items_per_s']:>8.2f}x{result['outside_generate']:>12.1%}"
                    f"{result['padding']:>9.1%}{f'{same}/{len(items)}':>14}"
                )
    print(f"evalkit.bench: {len(items)} items, greedy max_new_tokens={args.max_new_tokens}, "
          f"CPU threads={torch.get_num_threads()}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
