"""`python -m evalkit.tools.gpu_check --out DIR` — full-size LLaVA-1.5-7B and LLaVA-1.6-7B on one GPU.

Builds both models with random weights from their llava-hf configs (evalkit.tools.full_size: no
download, built on the GPU in the target dtype in seconds) and runs the same POPE-style `shapes`
items (mixed aspect ratios, several questions per image) through the real runner
(`iterate_predictions`, greedy, SDPA attention) at batch 1 / 8 / 16 / 32 in fp16 and bf16, then at
batch 16 fp16 with the feature cache and with the feature cache + shared image prefix. Per cell:
items/s, peak GPU memory, the GPU busy share, OOM back-off splits. Also: the share of answers
that differ between batch 1 and batch 16 in fp16 (left padding, half precision), and the
feature-cache and shared-prefix speed-ups. Writes DIR/gpu_check.md (the tables) and
DIR/gpu_check.json (every number, the environment) and prints the markdown.

Made for one shot on a lent GPU: every cell catches its own out-of-memory and errors and records
them, a cell stops after --cell-s seconds (items/s over what it ran), each model gets its share of
--budget-s and cells past it are recorded as skipped, so the whole check ends in < 5 minutes.
`--tiny` runs the same code with tiny widths on the CPU in seconds (the default-tier test).

GPU busy share: torch.cuda.utilization() sampled every 50 ms while a cell runs (needs pynvml /
nvidia-ml-py); without it, the CUDA-event time inside the model's forward calls over the cell's
wall time. Random weights do not answer like LLaVA (no early </s>): every answer runs
--max-new-tokens steps, so items/s here is a lower bound for the same prompt lengths.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

import torch

from evalkit.decoding.greedy import Greedy
from evalkit.runner import iterate_predictions
from evalkit.tools import full_size
from evalkit.tools.bench_setup import bench_items

DTYPES = {"fp16": "float16", "bf16": "bfloat16"}
FULL = {"batch_sizes": [1, 8, 16, 32], "compare_bs": 16, "items": 32, "questions_per_image": 4, "max_new_tokens": 8,
        "cell_s": 30.0, "budget_s": 240.0}
TINY = {"batch_sizes": [1, 4, 8], "compare_bs": 4, "items": 8, "questions_per_image": 2, "max_new_tokens": 3,
        "cell_s": 20.0, "budget_s": 120.0}
CACHE_MODES = {"-": {"enabled": False}, "feat": {"enabled": True, "share_prefix": False},
               "feat+pfx": {"enabled": True, "share_prefix": True}}


class BusyMeter:
    """GPU busy share of one cell: sampled utilisation if NVML answers, else CUDA-event time
    inside the model's forward calls over wall time; None on CPU."""

    def __init__(self, hf_model, device: torch.device):
        self.device, self.hf = device, hf_model
        self.samples: list[float] = []
        self.events: list[tuple] = []
        self.source = None
        if device.type == "cuda":
            try:
                torch.cuda.utilization(device)
                self.source = "nvml"
            except Exception:  # no pynvml: time the forward calls with CUDA events
                self.source = "cuda-events"

    def __enter__(self):
        self.started = time.perf_counter()
        if self.source == "nvml":
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        elif self.source == "cuda-events":
            forward = self.hf.forward

            @functools.wraps(forward)  # generate inspects forward's signature
            def timed(*args, **kwargs):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                out = forward(*args, **kwargs)
                end.record()
                self.events.append((start, end))
                return out

            self.hf.forward = timed  # instance attribute: nn.Module.__call__ finds it
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.samples.append(float(torch.cuda.utilization(self.device)))

    def __exit__(self, *exc) -> None:
        if self.source == "nvml":
            self._stop.set()
            self._thread.join()
        elif self.source == "cuda-events":
            del self.hf.forward
            torch.cuda.synchronize(self.device)
        self.wall = time.perf_counter() - self.started

    def share(self) -> Optional[float]:
        if self.source == "nvml":
            return sum(self.samples) / len(self.samples) / 100 if self.samples else None
        if self.source == "cuda-events":
            return min(1.0, sum(s.elapsed_time(e) for s, e in self.events) / 1000 / self.wall) if self.wall else None
        return None


def run_cell(model, items, batch_size: int, cache: str, max_new_tokens: int, cell_s: float) -> dict:
    """One measurement; out-of-memory and other errors are recorded, not raised."""
    model.configure_cache(CACHE_MODES[cache])  # a fresh, empty cache per cell
    cuda = model.device.type == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(model.device)
    stats: dict = {}
    answers: dict[str, str] = {}
    out = {"batch_size": batch_size, "cache": cache, "n_items": 0, "error": None, "stopped_early": False}
    meter = BusyMeter(model.model, model.device)
    try:
        with meter:
            for predictions, _ in iterate_predictions(items, model, Greedy(max_new_tokens=max_new_tokens),
                                                      batch_size, stats=stats):
                for p in predictions:
                    if p.error:
                        out["error"] = out["error"] or p.error
                    answers[p.item_id] = p.text
                if time.perf_counter() - meter.started > cell_s and len(answers) < len(items):
                    out["stopped_early"] = True
                    break
            if cuda:
                torch.cuda.synchronize(model.device)
    except Exception as exc:  # torch.cuda.OutOfMemoryError included: the next cell still runs
        out["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    finally:
        if cuda:
            out["peak_gib"] = round(torch.cuda.max_memory_allocated(model.device) / 2**30, 2)
            torch.cuda.empty_cache()
    wall = getattr(meter, "wall", None)
    out.update(n_items=len(answers), wall_s=round(wall, 3) if wall else None,
               items_per_s=round(len(answers) / wall, 3) if wall and answers else None,
               busy=None if meter.share() is None else round(meter.share(), 3),
               oom_splits=stats.get("oom_splits", 0), answers=answers)
    return out


def plan_cells(batch_sizes: list[int], dtypes: list[str], compare_bs: int) -> list[tuple[str, int, str]]:
    """(dtype, batch size, cache) in order of importance: what the answer comparison and the
    cache speed-ups need first, so a cut budget loses the least."""
    first = dtypes[0]
    cells = [(first, 1, "-"), (first, compare_bs, "-"), (first, compare_bs, "feat"), (first, compare_bs, "feat+pfx")]
    cells += [(first, b, "-") for b in batch_sizes if b not in (1, compare_bs)]
    cells += [(d, b, "-") for d in dtypes[1:] for b in batch_sizes]
    return cells


def check_model(family: str, model_dir: Path, args, budget_s: float) -> dict:
    started = time.perf_counter()
    result: dict = {"model": full_size.NAMES[family], "family": family, "cells": []}
    items = bench_items(args.items, args.questions_per_image)
    torch.manual_seed(0)
    try:
        t0 = time.perf_counter()
        model = full_size.build(family, model_dir, args.device, DTYPES[args.dtypes[0]])
        if model.device.type == "cuda":
            torch.cuda.synchronize(model.device)
        result["build_s"] = round(time.perf_counter() - t0, 2)
        result["parameters_b"] = round(sum(p.numel() for p in model.model.parameters()) / 1e9, 3)
    except Exception as exc:
        result["error"] = f"building: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        return result
    result["image_tokens"] = sorted({model.prepare_image(bench_image(i)).n_tokens for i in items})
    warm_up = model.device.type == "cuda"  # kernels, allocator, lazy imports (not worth the CPU time)
    if warm_up:
        run_cell(model, items[:2], 2, "-", 2, args.cell_s)
    current = args.dtypes[0]
    for dtype, batch_size, cache in plan_cells(args.batch_sizes, args.dtypes, args.compare_bs):
        row = {"dtype": dtype, "batch_size": batch_size, "cache": cache}
        if time.perf_counter() - started > budget_s:
            result["cells"].append({**row, "skipped": "time budget"})
            continue
        if dtype != current:  # the same random weights, cast
            model.model.to(getattr(torch, DTYPES[dtype]))
            model.dtype, current = getattr(torch, DTYPES[dtype]), dtype
            if warm_up:
                run_cell(model, items[:2], 2, "-", 2, args.cell_s)
        result["cells"].append({**row, **run_cell(model, items, batch_size, cache, args.max_new_tokens, args.cell_s)})
    summarise(result, args.dtypes[0], args.compare_bs)
    if args.vllm_python:  # the same weights served by vLLM (evalkit.tools.gpu_check_vllm), last: it moves them off the GPU
        from evalkit.tools.gpu_check_vllm import vllm_row

        reference = _cell(result, current, args.compare_bs, "-")
        result["vllm"] = vllm_row(model, model_dir, items, DTYPES[current], args.compare_bs, args.max_new_tokens,
                                  args.vllm_python, reference["answers"] if reference else {})
    del model  # and its feature cache: the next model needs the memory
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    result["total_s"] = round(time.perf_counter() - started, 1)
    return result


def bench_image(item):
    from evalkit.images import load_image

    return load_image(item.image)


def _cell(result: dict, dtype: str, bs: int, cache: str) -> Optional[dict]:
    return next((c for c in result["cells"] if (c["dtype"], c["batch_size"], c["cache"]) == (dtype, bs, cache)
                 and c.get("items_per_s")), None)


def summarise(result: dict, dtype: str, bs: int) -> None:
    """Answers differing between batch 1 and batch `bs`, and the cache speed-ups at batch `bs`."""
    one, batched = _cell(result, dtype, 1, "-"), _cell(result, dtype, bs, "-")
    if one and batched:
        common = sorted(set(one["answers"]) & set(batched["answers"]))
        differ = sum(one["answers"][k] != batched["answers"][k] for k in common)
        result["answers_differ_bs1_vs_bs%d_%s" % (bs, dtype)] = {"differ": differ, "of": len(common),
                                                                 "share": round(differ / len(common), 4) if common else None}
    for cache in ("feat", "feat+pfx"):
        cached = _cell(result, dtype, bs, cache)
        if batched and cached:
            same = sum(cached["answers"].get(k) == v for k, v in batched["answers"].items())
            result[f"speedup_{cache}_bs{bs}_{dtype}"] = {"ratio": round(cached["items_per_s"] / batched["items_per_s"], 3),
                                                        "answers_same": f"{same}/{len(batched['answers'])}"}


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [f"# evalkit GPU check ({env['device_name']}, torch {env['torch']}, transformers {env['transformers']})", "",
             f"{report['n_items']} POPE-style items ({report['questions_per_image']} questions per image, mixed aspect "
             f"ratios), greedy, {report['max_new_tokens']} new tokens (random weights: no early stop), SDPA; "
             f"busy = GPU busy share ({report['busy_source']}). {'Reduced size (--tiny).' if report['tiny'] else ''}", "",
             "| model | dtype | batch | cache | items/s | peak GiB | busy | OOM splits | note |",
             "|---|---|---:|---|---:|---:|---:|---:|---|"]
    for result in report["models"]:
        if "error" in result:
            lines.append(f"| {result['model']} | | | | | | | | {result['error']} |")
        for c in result["cells"]:
            note = c.get("skipped") or c.get("error") or ("stopped at the cell time limit" if c.get("stopped_early") else "")
            fmt = lambda v, f: "-" if v is None else format(v, f)
            lines.append(f"| {result['model']} | {c['dtype']} | {c['batch_size']} | {c['cache']} | "
                         f"{fmt(c.get('items_per_s'), '.2f')} | {fmt(c.get('peak_gib'), '.1f')} | "
                         f"{fmt(c.get('busy'), '.0%')} | {c.get('oom_splits', '-')} | {note} |")
    lines.append("")
    for result in report["models"]:
        facts = []
        for key, value in result.items():
            if key.startswith("answers_differ"):
                facts.append(f"answers differing, {key.removeprefix('answers_differ_').replace('_', ' ')}: "
                             f"{value['differ']}/{value['of']}")
            elif key.startswith("speedup"):
                facts.append(f"{key.removeprefix('speedup_').replace('_', ' ')} speed-up {value['ratio']:.2f}x "
                             f"(answers same {value['answers_same']})")
        vllm = result.get("vllm")
        if vllm:
            facts.append(f"vLLM {vllm['dtype']} at {vllm['batch_size']} in flight: " + (
                f"error {vllm['error']}" if vllm.get("error") and not vllm.get("items_per_s") else
                f"{vllm['items_per_s']:.2f} items/s (server start {vllm['server_start_s']} s), answers same as "
                f"transformers {vllm['same_as_hf']}"))
        facts += [f"build {result.get('build_s')} s, {result.get('parameters_b')} B parameters, image tokens "
                  f"{result.get('image_tokens')}, {result.get('total_s')} s in all"]
        lines.append(f"- **{result['model']}**: " + "; ".join(facts))
    lines.append(f"\nTotal {report['total_s']} s. Command: `{report['command']}`")
    return "\n".join(lines) + "\n"


def environment(device: str) -> dict:
    import transformers

    cuda = device.startswith("cuda")
    return {"torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
            "device": device, "device_name": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
            "cuda": torch.version.cuda if cuda else None}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu_check.md and gpu_check.json")
    parser.add_argument("--tiny", action="store_true", help="tiny widths on the CPU: the same code in seconds")
    parser.add_argument("--device", default=None, help="default: cuda, or cpu with --tiny")
    parser.add_argument("--models", nargs="+", default=["llava15", "llava16"], choices=list(full_size.CONFIGS))
    parser.add_argument("--dtypes", nargs="+", default=["fp16", "bf16"], choices=list(DTYPES))
    # Defaults: FULL on a GPU, TINY with --tiny (CPU half precision is slow even at tiny widths).
    parser.add_argument("--batch-sizes", nargs="+", type=int)
    parser.add_argument("--compare-bs", type=int, help="batch compared with batch 1, and of the cache rows")
    parser.add_argument("--items", type=int)
    parser.add_argument("--questions-per-image", type=int)
    parser.add_argument("--max-new-tokens", type=int)
    parser.add_argument("--cell-s", type=float, help="a cell stops after this many seconds")
    parser.add_argument("--budget-s", type=float, help="all models together; cells past it are skipped")
    parser.add_argument("--vllm-python", help="python of an environment with vLLM: adds a vLLM row per model "
                        "(engine=vllm on the same weights, answers compared with transformers'; docs/engines.md)")
    args = parser.parse_args(argv)
    for key, value in (TINY if args.tiny else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.device = args.device or ("cpu" if args.tiny else "cuda")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("no CUDA device: run on a GPU, or --tiny for the reduced-size CPU check")
    if args.compare_bs not in args.batch_sizes or 1 not in args.batch_sizes:
        parser.error("--batch-sizes must include 1 and --compare-bs")

    started = time.perf_counter()
    tokenizer = full_size.real_sized_tokenizer()
    models = []
    with tempfile.TemporaryDirectory() as scratch:
        for i, family in enumerate(args.models):
            model_dir = full_size.write_model_dir(family, Path(scratch) / family, tokenizer, tiny=args.tiny)
            left = args.budget_s - (time.perf_counter() - started)
            models.append(check_model(family, model_dir, args, budget_s=left / (len(args.models) - i)))
    report = {
        "command": "python -m evalkit.tools.gpu_check " + " ".join(argv if argv is not None else sys.argv[1:]),
        "tiny": args.tiny, "n_items": args.items, "questions_per_image": args.questions_per_image,
        "max_new_tokens": args.max_new_tokens, "tokenizer": "tiny BPE padded to 32000 + <image> 32000, <pad> 32001",
        "busy_source": BusyMeter(None, torch.device(args.device)).source or "n/a on CPU",
        "environment": environment(args.device), "models": models, "total_s": round(time.perf_counter() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    text = markdown(report)
    (args.out / "gpu_check.md").write_text(text, encoding="utf-8")
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
