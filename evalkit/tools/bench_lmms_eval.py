"""`python -m evalkit.tools.bench_lmms_eval` — the bench items through lmms-eval's `llava_hf` model and
through evalkit, on the same checkpoint, in one process, as one table.

lmms-eval is not an evalkit dependency (it pins its own stack); run this in a separate environment:

    python3 -m venv /tmp/lmms && . /tmp/lmms/bin/activate
    pip install torch==2.13.0 lmms-eval hydra-core pandas && pip install --no-deps -e .
    python -m evalkit.tools.bench_lmms_eval [--models llava15 llava16] [--images 8]

lmms-eval's `generate_until` is called the way its evaluator calls it (`Instance`s whose visual
comes from `task_dict`), so its own prompt building, preprocessing and decode loop are measured.
Its llava_hf model runs batch size 1 only and re-encodes the image for every question. It is given
its own Vicuna template (`chat_template=`), which renders "<image>\\n{question}" exactly as
evalkit's `llava_eval` does; its preprocessing differs for LLaVA-1.5: the processor's resize + centre
crop instead of LLaVA's pad-to-square, so answers on non-square images may differ there (shown).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from evalkit.tools.bench_setup import MODELS, bench_items, checkpoint, measure
from evalkit.models.llava import LlavaModel
from evalkit.decoding.greedy import Greedy
from evalkit.decoding.yesno_logits import YesNoLogits
from evalkit.images import load_image


def lmms_eval_run(path, items, max_new_tokens: int) -> dict:
    from lmms_eval.api.instance import Instance
    from lmms_eval.models.simple.llava_hf import VICUNA_CHAT_TEMPLATE, LlavaHf

    # lmms-eval's own Vicuna template: LLaVA's evaluation prompt (the checkpoint's chat template
    # expects list content, which lmms-eval does not pass).
    model = LlavaHf(pretrained=str(path), device="cpu", device_map="cpu", dtype="float32", batch_size=1,
                    chat_template=VICUNA_CHAT_TEMPLATE)
    docs = {i: {"image": item.image} for i, item in enumerate(items)}
    model.task_dict = {"bench": {"test": docs}}

    def visual(doc):  # a file is decoded here, inside the timed loop, as a task's doc_to_visual would
        image = doc["image"]
        return [load_image(image) if isinstance(image, (str, Path)) else image]

    requests = [Instance(request_type="generate_until", idx=0, metadata={"task": "bench", "doc_id": i, "repeats": 1},
                         arguments=(item.prompt_question or item.question,
                                    {"max_new_tokens": max_new_tokens, "temperature": 0}, visual, i, "bench", "test"))
                for i, item in enumerate(items)]
    model.generate_until(requests[:2])  # warm-up, as evalkit's rows get
    hf, inside = model.model, [0.0]
    generate = hf.generate

    def timed_generate(*args, **kwargs):  # the time inside the model, for the share outside it
        started = time.perf_counter()
        try:
            return generate(*args, **kwargs)
        finally:
            inside[0] += time.perf_counter() - started

    hf.generate = timed_generate
    start = time.perf_counter()
    texts = model.generate_until(requests)
    wall = time.perf_counter() - start
    hf.generate = generate
    return {"items_per_s": len(items) / wall, "loop_s": wall, "inside_s": inside[0],
            "answers": {item.id: t.strip() for item, t in zip(items, texts)}}


def whole_file_run(args) -> None:
    """`--file questions.jsonl`: one model over a yes/no file, answers and times to `--out`
    (the lmms-eval rows of `python -m evalkit.tools.bench --whole-command`)."""
    import json

    from datasets_adapters.yesno_files import YesNoFileDataset

    items = YesNoFileDataset(args.file).load()
    family = args.models[0]
    result = lmms_eval_run(checkpoint(family, Path(args.out).parent), items, args.max_new_tokens)
    Path(args.out).write_text(json.dumps(result))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["llava15", "llava16"], choices=["llava15", "llava16"])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--questions-per-image", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--file", help="run lmms-eval alone on this yes/no file (with --out)")
    parser.add_argument("--out", help="with --file: where to write answers and times (JSON)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.file:
        return whole_file_run(args)
    items = bench_items(args.images * args.questions_per_image, args.questions_per_image)
    greedy = Greedy(max_new_tokens=args.max_new_tokens)
    rows = [f"{'model':<9}{'harness':<10}{'mode':<8}{'bs':>3}{'cache':>9}{'items/s':>9}{'vs lmms-eval':>13}  same answers"]
    rows.append("-" * len(rows[0]))
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models:
            family, sizes = MODELS[name]
            path = checkpoint(family, Path(scratch), **sizes)  # the shipped one when there is one
            theirs = lmms_eval_run(path, items, args.max_new_tokens)
            rows.append(f"{name:<9}{'lmms-eval':<10}{'greedy':<8}{1:>3}{'-':>9}{theirs['items_per_s']:>9.1f}{1:>12.2f}x")
            model = LlavaModel(name=name, path=str(path), family=family, device="cpu")
            measure(model, items[:4], 2, greedy, cache="feat+pfx")  # warm-up
            for mode, bs, cache in (("greedy", 1, "-"), ("greedy", 8, "feat+pfx"), ("yesno_logits", 8, "feat+pfx")):
                decoding = greedy if mode == "greedy" else YesNoLogits()
                ours = max((measure(model, items, bs, decoding, cache) for _ in range(2)), key=lambda r: r["items_per_s"])
                same = sum(ours["answers"][k].strip().lower().rstrip(".") == v.lower().rstrip(".")
                           for k, v in theirs["answers"].items())
                rows.append(f"{name:<9}{'evalkit':<10}{'logits' if mode != 'greedy' else mode:<8}{bs:>3}{cache:>9}"
                            f"{ours['items_per_s']:>9.1f}{ours['items_per_s'] / theirs['items_per_s']:>12.2f}x"
                            f"  {same}/{len(items)}")
    print(f"evalkit.tools.bench_lmms_eval: {len(items)} items ({args.images} images x {args.questions_per_image} questions), "
          f"greedy max_new_tokens={args.max_new_tokens}, CPU threads={torch.get_num_threads()}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
