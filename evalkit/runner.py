"""Run items through a model in length-grouped, left-padded batches and hand back Predictions.

Batches are planned up front from cheap length estimates (prompt tokens + the image tokens the
processor will insert, read from the image header), longest first so an out-of-memory batch shows
up at once. With the model's feature cache on, the plan also keeps the questions about one image
together (image, then length), so its features are computed once and found for the rest. Images
are decoded and preprocessed per batch inside a DataLoader, once per distinct image in the batch,
so `num_workers` can overlap it with generation; a bad image becomes an error Prediction, never an
exception.

How a batch becomes text is the decoding method's business (evalkit.decoding: greedy, sample,
yesno_logits, or any class the config names); the runner only plans, prepares and calls it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from pathlib import Path
from typing import Iterator, Mapping, Optional, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from evalkit.decoding.base import DecodeBatch, DecodingMethod
from evalkit.errors import ConfigError, EngineUnavailable
from evalkit.images import image_size, load_image
from evalkit.types import Item, Prediction
from evalkit.workers import die_with_parent, resolve_workers


def estimate_lengths(items: Sequence[Item], model) -> list[int]:
    """Prompt length in tokens incl. image tokens, without decoding any image. Benchmarks repeat
    questions (POPE: the same probe on many images) and images (6 questions each) and sizes, so
    each distinct question is tokenized, each image file's header read and each size's token
    count asked once."""
    image_token_id = model.tokenizer.convert_tokens_to_ids(model.processor.image_token)
    text_tokens: dict[str, int] = {}
    sizes: dict[str, Optional[tuple[int, int]]] = {}
    image_tokens: dict[Optional[tuple[int, int]], int] = {}
    lengths = []
    for item in items:
        question = item.text_for_prompt
        if question not in text_tokens:
            ids = model.tokenizer(model.render_prompt(question))["input_ids"]
            # The processor replaces each <image> placeholder with the image's feature tokens.
            text_tokens[question] = len(ids) - ids.count(image_token_id)
        if isinstance(item.image, (str, Path)):
            path = str(item.image)
            size = sizes[path] if path in sizes else sizes.setdefault(path, image_size(path))
        else:
            size = image_size(item.image)
        if size not in image_tokens:
            image_tokens[size] = model.num_image_tokens(size)
        lengths.append(text_tokens[question] + image_tokens[size])
    return lengths


def plan_batches(lengths: Sequence[int], batch_size: int, sort_by_length: bool = True,
                 groups: Optional[Sequence[str]] = None) -> list[list[int]]:
    """Indices of each batch. Sorting by length (longest first, ties in dataset order) puts rows of
    similar length together so little of each batch is padding; callers restore dataset order.

    With `groups` (an image key per item) rows of one group stay together: groups are ordered by
    their longest row, rows within a group by length, and a group is not split across batches
    unless it is larger than a batch (a batch may then hold fewer rows). Questions about one image
    differ only in their text, so this costs little padding, and one vision encode and one run of
    the shared prompt prefix serve the whole group."""
    order = list(range(len(lengths)))
    if sort_by_length and groups is not None:
        members: dict[str, list[int]] = {}
        for i in order:
            members.setdefault(groups[i], []).append(i)
        ranked = sorted(members.values(), key=lambda m: (-max(lengths[i] for i in m), m[0]))
        batches: list[list[int]] = [[]]
        for group in ranked:
            rows = sorted(group, key=lambda i: (-lengths[i], i))
            if len(batches[-1]) + len(rows) > batch_size and batches[-1]:
                batches.append([])
            for i in rows:  # a group larger than a batch fills whole batches
                if len(batches[-1]) == batch_size:
                    batches.append([])
                batches[-1].append(i)
        return [b for b in batches if b]
    if sort_by_length:
        order.sort(key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def plan(items: Sequence[Item], model, batch_size: int, sort_by_length: bool = True,
         group_by_image: Optional[bool] = None) -> list[list[int]]:
    """The batches `iterate_predictions` runs `items` in (indices into items)."""
    if group_by_image is None:
        group_by_image = getattr(model, "feature_cache", None) is not None
    lengths = estimate_lengths(items, model)
    groups = [image_ref_key(item.image) for item in items] if group_by_image else None
    return plan_batches(lengths, batch_size, sort_by_length, groups)


def image_ref_key(ref) -> str:
    """Which items share an image, without decoding it: the path, a hash of the bytes, or the
    in-memory object. (The feature cache keys by decoded content; this only groups the plan.)"""
    if isinstance(ref, dict):
        return image_ref_key(ref.get("bytes") or ref.get("path"))
    if isinstance(ref, (bytes, bytearray)):
        return "bytes:" + hashlib.blake2b(ref, digest_size=16).hexdigest()
    if isinstance(ref, (str, Path)):
        return "path:" + str(Path(ref))
    return f"object:{id(ref)}"


class _PreparedBatches(Dataset):
    """Each element is one planned batch: [(item, PreparedInput | error string)]. Each distinct
    image of a batch is decoded and preprocessed once, whatever the number of questions on it."""

    def __init__(self, items: Sequence[Item], batches: list[list[int]], model):
        self.items, self.batches, self.model = items, batches, model

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        split = hasattr(self.model, "prepare_image") and hasattr(self.model, "prepare_text")
        images: dict[str, object] = {}
        out = []
        for i in self.batches[index]:
            item = self.items[i]
            try:
                if not split:
                    out.append((item, check_context(self.model, self.model.prepare(load_image(item.image),
                                                                                   item.text_for_prompt))))
                    continue
                key = image_ref_key(item.image)
                if key not in images:
                    try:
                        images[key] = self.model.prepare_image(load_image(item.image))
                    except Exception as exc:
                        images[key] = exc  # every question on a broken image gets its error
                if isinstance(images[key], Exception):
                    raise images[key]
                out.append((item, check_context(self.model, self.model.prepare_text(images[key], item.text_for_prompt))))
            except Exception as exc:  # a broken image or prompt loses this item only
                out.append((item, f"{type(exc).__name__}: {exc}"))
        return out


def context_length(model) -> Optional[int]:
    """The language model's positions (max_position_embeddings), where the model says."""
    config = getattr(model, "config", None)
    text = getattr(config, "text_config", config)
    value = getattr(text, "max_position_embeddings", None)
    return value if isinstance(value, int) and value > 0 else None


def check_context(model, prepared):
    """A prompt (text plus image tokens) longer than the model's context is an error, not a
    silently truncated or garbled answer."""
    limit = context_length(model)
    ids = getattr(prepared, "input_ids", None)
    if limit is not None and ids is not None and ids.shape[-1] > limit:
        image = getattr(prepared, "image", None)
        image_tokens = getattr(image, "n_tokens", 0) or 0
        raise ValueError(f"prompt of {ids.shape[-1]} tokens ({ids.shape[-1] - image_tokens} text + {image_tokens} "
                         f"image) exceeds the model's context of {limit} positions")
    return prepared


def _identity(batch):
    return batch


def _error(item: Item, message: str) -> Prediction:
    return Prediction(item_id=item.id, raw_text="", text="", error=message)


def iterate_predictions(
    items: Sequence[Item],
    model,
    decoding: DecodingMethod,
    batch_size: int,
    sort_by_length: bool = True,
    num_workers: int | str = 0,
    seed: int = 0,
    stats: Optional[dict] = None,
    group_by_image: Optional[bool] = None,
    choices: Optional[Mapping[str, tuple[str, ...]]] = None,
) -> Iterator[tuple[list[Prediction], list[str]]]:
    """Yield (predictions, prompts) per batch, in planned (not dataset) order.

    `stats`, if given, is filled as batches finish: time inside the model (`generate_time_s`,
    vision encoding included), planning (`plan_s`), waiting for prepared batches (`wait_s`),
    when the first batch was ready (`first_batch_at`, epoch seconds), padding, batch counts,
    images preprocessed and vision encodes. `num_workers` ("auto" or a count, evalkit.workers)
    worker processes prepare the next batches while this one generates.
    `group_by_image` (default: when the model's feature cache is on) plans image, then length.
    `seed` reaches the method with every batch (sampling derives each item's draws from it).
    `choices` (item id -> answer options, from the items' tasks) reaches it too, for methods that
    score options instead of generating.
    """
    decoding.prepare(model)  # what would fail every batch fails here, before the first
    for labels in sorted(set((choices or {}).values())):
        try:
            model.option_tokens(labels)  # options the tokenizer cannot tell apart fail here too
        except ValueError as exc:
            raise ConfigError(f"decoding={decoding.name}: {exc}") from None
    planned = time.perf_counter()
    batches = plan(items, model, batch_size, sort_by_length, group_by_image)
    plan_s = time.perf_counter() - planned
    num_workers = min(resolve_workers(num_workers), len(batches))
    if num_workers:
        # The tokenizer runs in the forked workers; HF tokenizers would warn and turn its thread
        # pool off there anyway (prompts are tokenized one at a time, it has no use for one).
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    counters = getattr(model, "counters", {})
    encodes_before = counters.get("vision_encodes", 0)
    loader = DataLoader(
        _PreparedBatches(items, batches, model),
        batch_size=None,
        num_workers=num_workers,
        collate_fn=_identity,
        # Workers only decode and preprocess (deterministic); generation stays in this process.
        multiprocessing_context="fork" if num_workers else None,
        prefetch_factor=2 if num_workers else None,
        worker_init_fn=functools.partial(die_with_parent, os.getpid()) if num_workers else None,
    )
    totals = {"generate_time_s": 0.0, "padded_positions": 0, "real_positions": 0, "n_batches": 0, "oom_splits": 0,
              "image_preps": 0, "vision_encodes": 0, "plan_s": round(plan_s, 4), "wait_s": 0.0,
              "num_workers": num_workers}
    batches_ready = iter(loader)
    while True:
        waited = time.perf_counter()
        prepared = next(batches_ready, None)
        if prepared is None:
            break
        totals["wait_s"] += time.perf_counter() - waited
        totals.setdefault("first_batch_at", time.time())
        ok = [(item, x) for item, x in prepared if not isinstance(x, str)]
        predictions = [_error(item, x) for item, x in prepared if isinstance(x, str)]
        prompts = {item.id: x.prompt for item, x in ok}
        # Images whose pixels were preprocessed for this batch (cache hits have none).
        totals["image_preps"] += len({id(getattr(x, "image", x)) for _, x in ok
                                      if getattr(x, "pixel_values", None) is not None})
        if ok:
            predictions.extend(_generate_with_backoff(model, ok, decoding, seed, totals, choices or {}))
        totals["n_batches"] += 1
        totals["vision_encodes"] = counters.get("vision_encodes", 0) - encodes_before
        if stats is not None:
            stats.update(totals)
        yield predictions, [prompts.get(p.item_id) for p in predictions]


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def _generate_with_backoff(model, rows: list, decoding: DecodingMethod, seed: int, totals: dict,
                           choices: Mapping[str, tuple[str, ...]]) -> list[Prediction]:
    """Generate one batch. Out of memory: halve the batch and retry, down to single items; an item
    that still fails (OOM at size 1, or any error of its own) becomes an error row, so one item
    never aborts the run."""
    try:
        batch = model.collate([x for _, x in rows])
        start = time.perf_counter()
        decoded = decoding.decode(model, DecodeBatch(batch, tuple(item.id for item, _ in rows), seed,
                                                     tuple(choices.get(item.id) for item, _ in rows)))
        elapsed = time.perf_counter() - start
    except EngineUnavailable:
        raise  # not this item's fault: no error rows, the run stops and resume continues it
    except Exception as exc:
        oom = is_out_of_memory(exc)
        if oom and torch.cuda.is_available():
            torch.cuda.empty_cache()
        if len(rows) == 1:
            return [_error(rows[0][0], f"{type(exc).__name__}: {exc}".strip())]
        if oom:
            half = (len(rows) + 1) // 2
            totals["oom_splits"] = totals.get("oom_splits", 0) + 1
            return [*_generate_with_backoff(model, rows[:half], decoding, seed, totals, choices),
                    *_generate_with_backoff(model, rows[half:], decoding, seed, totals, choices)]
        # Not a memory problem: run each item alone so only the culprit gets an error row.
        return [p for row in rows for p in _generate_with_backoff(model, [row], decoding, seed, totals, choices)]
    mask = batch["attention_mask"]
    totals["generate_time_s"] += elapsed
    totals["padded_positions"] += int(mask.numel())
    totals["real_positions"] += int(mask.sum())
    return [
        Prediction(
            item_id=item.id,
            raw_text=raw,
            text=raw.strip(),
            p_yes=p,
            option_probs=probs,
            batch_size=len(rows),
            batch_time_s=round(elapsed, 6),
            n_input_tokens=int(x.input_ids.shape[0]),
        )
        for (item, x), raw, p, probs in zip(rows, decoded.texts, decoded.p_yes,
                                            decoded.option_probs or (None,) * len(rows))
    ]


def padding_fraction(stats: dict) -> float:
    padded = stats.get("padded_positions", 0)
    return 0.0 if not padded else 1.0 - stats.get("real_positions", 0) / padded
