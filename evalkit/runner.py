"""Run items through a model in length-grouped, left-padded batches and hand back Predictions.

Batches are planned up front from cheap length estimates (prompt tokens + the image tokens the
processor will insert, read from the image header), longest first so an out-of-memory batch shows
up at once. Images are decoded and preprocessed per batch inside a DataLoader, so `num_workers`
can overlap it with generation; a bad image becomes an error Prediction, never an exception.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from evalkit.images import image_size, load_image
from evalkit.types import Item, Prediction


@dataclass(frozen=True)
class Decoding:
    mode: str = "greedy"
    max_new_tokens: int = 128
    temperature: float = 1.0
    top_p: float = 1.0
    num_beams: int = 1


def estimate_lengths(items: Sequence[Item], model) -> list[int]:
    """Prompt length in tokens incl. image tokens, without decoding any image."""
    image_token_id = model.tokenizer.convert_tokens_to_ids(model.processor.image_token)
    lengths = []
    for item in items:
        ids = model.tokenizer(model.render_prompt(item.text_for_prompt))["input_ids"]
        # The processor replaces each <image> placeholder with the image's feature tokens.
        text = len(ids) - ids.count(image_token_id)
        lengths.append(text + model.num_image_tokens(image_size(item.image)))
    return lengths


def plan_batches(lengths: Sequence[int], batch_size: int, sort_by_length: bool = True) -> list[list[int]]:
    """Indices of each batch. Sorting by length (longest first, ties in dataset order) puts rows of
    similar length together so little of each batch is padding; callers restore dataset order."""
    order = list(range(len(lengths)))
    if sort_by_length:
        order.sort(key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class _PreparedBatches(Dataset):
    """Each element is one planned batch: [(item, PreparedInput | error string)]."""

    def __init__(self, items: Sequence[Item], batches: list[list[int]], prepare: Callable):
        self.items, self.batches, self.prepare = items, batches, prepare

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        out = []
        for i in self.batches[index]:
            item = self.items[i]
            try:
                out.append((item, self.prepare(load_image(item.image), item.text_for_prompt)))
            except Exception as exc:  # a broken image or prompt loses this item only
                out.append((item, f"{type(exc).__name__}: {exc}"))
        return out


def _identity(batch):
    return batch


def _error(item: Item, message: str) -> Prediction:
    return Prediction(item_id=item.id, raw_text="", text="", error=message)


def iterate_predictions(
    items: Sequence[Item],
    model,
    decoding: Decoding,
    batch_size: int,
    sort_by_length: bool = True,
    num_workers: int = 0,
    seed: int = 0,
    stats: Optional[dict] = None,
) -> Iterator[tuple[list[Prediction], list[str]]]:
    """Yield (predictions, prompts) per batch, in planned (not dataset) order.

    `stats`, if given, is filled with generate time, padding and batch counts as batches finish.
    """
    lengths = estimate_lengths(items, model)
    batches = plan_batches(lengths, batch_size, sort_by_length)
    loader = DataLoader(
        _PreparedBatches(items, batches, model.prepare),
        batch_size=None,
        num_workers=num_workers,
        collate_fn=_identity,
        # Workers only decode and preprocess (deterministic); generation stays in this process.
        multiprocessing_context="fork" if num_workers else None,
        prefetch_factor=2 if num_workers else None,
    )
    totals = {"generate_time_s": 0.0, "padded_positions": 0, "real_positions": 0, "n_batches": 0, "oom_splits": 0}
    for prepared in loader:
        ok = [(item, x) for item, x in prepared if not isinstance(x, str)]
        predictions = [_error(item, x) for item, x in prepared if isinstance(x, str)]
        prompts = {item.id: x.prompt for item, x in ok}
        if ok:
            if decoding.mode == "sample":
                torch.manual_seed(seed)
            predictions.extend(_generate_with_backoff(model, ok, decoding, totals))
        totals["n_batches"] += 1
        if stats is not None:
            stats.update(totals)
        yield predictions, [prompts.get(p.item_id) for p in predictions]


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _generate_with_backoff(model, rows: list, decoding: Decoding, totals: dict) -> list[Prediction]:
    """Generate one batch. Out of memory: halve the batch and retry, down to single items; an item
    that still fails (OOM at size 1, or any error of its own) becomes an error row, so one item
    never aborts the run."""
    try:
        batch = model.collate([x for _, x in rows])
        start = time.perf_counter()
        texts = model.generate(
            batch,
            max_new_tokens=decoding.max_new_tokens,
            do_sample=decoding.mode == "sample",
            temperature=decoding.temperature,
            top_p=decoding.top_p,
            num_beams=decoding.num_beams,
        )
        elapsed = time.perf_counter() - start
    except Exception as exc:
        oom = is_out_of_memory(exc)
        if oom and torch.cuda.is_available():
            torch.cuda.empty_cache()
        if len(rows) == 1:
            return [_error(rows[0][0], f"{type(exc).__name__}: {exc}".strip())]
        if oom:
            half = (len(rows) + 1) // 2
            totals["oom_splits"] = totals.get("oom_splits", 0) + 1
            return [*_generate_with_backoff(model, rows[:half], decoding, totals),
                    *_generate_with_backoff(model, rows[half:], decoding, totals)]
        # Not a memory problem: run each item alone so only the culprit gets an error row.
        return [p for row in rows for p in _generate_with_backoff(model, [row], decoding, totals)]
    mask = batch["attention_mask"]
    totals["generate_time_s"] += elapsed
    totals["padded_positions"] += int(mask.numel())
    totals["real_positions"] += int(mask.sum())
    return [
        Prediction(
            item_id=item.id,
            raw_text=raw,
            text=raw.strip(),
            batch_size=len(rows),
            batch_time_s=round(elapsed, 6),
            n_input_tokens=int(x.input_ids.shape[0]),
        )
        for (item, x), raw in zip(rows, texts)
    ]


def padding_fraction(stats: dict) -> float:
    padded = stats.get("padded_positions", 0)
    return 0.0 if not padded else 1.0 - stats.get("real_positions", 0) / padded
