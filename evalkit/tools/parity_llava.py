"""`python -m evalkit.tools.parity_llava --llava-python PY` — evalkit against the ORIGINAL LLaVA
evaluation path on tiny original-format checkpoints (LLaVA-1.5 full and LoRA, LLaVA-1.6 full), as
one table: input ids, greedy answers n/n, max first-step logit difference, conversion time and size.

The original code is `llava-torch` (haotian-liu/LLaVA on the package registry), which pins
transformers 4.37, so it runs in its own environment and never becomes an evalkit dependency:

    python3 -m venv /work/llava-venv
    /work/llava-venv/bin/pip install torch==2.13.0
    /work/llava-venv/bin/pip install transformers==4.37.2 tokenizers==0.15.1 accelerate==0.21.0 peft==0.10.0 \\
        sentencepiece protobuf einops shortuuid pillow "numpy<2"
    /work/llava-venv/bin/pip install --no-deps timm llava-torch==1.2.2.post1
    python -m evalkit.tools.parity_llava --llava-python /work/llava-venv/bin/python

This process (evalkit's environment) writes the checkpoints (evalkit/tools/tiny_original.py) and
the images, runs evalkit/tools/llava_reference.py with the other python (the builder, `vicuna_v1`
conversation, `process_images`, `tokenizer_image_token`, `generate`), then evaluates the same
directories through `LlavaModel` (conversion into a content-keyed cache, left-padded batch, feature
cache on: the way `python -m evalkit` runs) and compares.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

REFERENCE_SCRIPT = Path(__file__).with_name("llava_reference.py")
SIZES = [(336, 336), (640, 360), (360, 640), (900, 300), (300, 900), (500, 520)]
QUESTIONS = ["Is there a red circle in the image?", "What is the color of the object?"]


def draw_images(directory: Path, n: int) -> list[Path]:
    colours = ["red", "blue", "green", "yellow", "purple", "orange"]
    paths = []
    for i in range(n):
        w, h = SIZES[i % len(SIZES)]
        image = Image.new("RGB", (w, h), "white")
        draw = ImageDraw.Draw(image)
        draw.ellipse([w // 5, h // 4, 3 * w // 4, 4 * h // 5], fill=colours[i % len(colours)])
        draw.rectangle([0, 0, w // 6 + 10 * i, h // 6], fill="black")
        paths.append(directory / f"image{i}.png")
        image.save(paths[-1])
    return paths


def evalkit_rows(path: Path, base, items: list[dict], cache: Path, max_new_tokens: int) -> tuple[list, dict]:
    from evalkit.models.llava import LlavaModel

    model = LlavaModel(name=path.name, path=str(path), base=str(base) if base else None, convert_cache=str(cache),
                       device="cpu", dtype="float32")
    inputs = [model.prepare(Image.open(item["image"]).convert("RGB"), item["question"]) for item in items]
    batch = model.collate(inputs)
    texts = model.generate(batch, max_new_tokens=max_new_tokens)
    logits = model.start(model.collate(inputs)).logits
    image_id = model.config.image_token_id
    rows = []
    for x, text, row_logits in zip(inputs, texts, logits):
        ids = x.input_ids.tolist()
        first = ids.index(image_id)
        collapsed = ids[:first] + [-200] + [t for t in ids[first:] if t != image_id]
        rows.append({"input_ids": collapsed, "answer": text.strip(), "first_logits": row_logits})
    return rows, model.conversion


def compare(ours: list, theirs: list) -> dict:
    vocab = len(theirs[0]["first_logits"])
    diffs = [float((o["first_logits"][:vocab].float() - torch.tensor(t["first_logits"])).abs().max())
             for o, t in zip(ours, theirs)]
    return {"ids_equal": sum(o["input_ids"] == t["input_ids"] for o, t in zip(ours, theirs)),
            "answers_equal": sum(o["answer"] == t["answer"] for o, t in zip(ours, theirs)),
            "n": len(theirs), "max_logit_diff": max(diffs),
            "distinct_answers": len({t["answer"] for t in theirs}),
            "mismatches": [(o["answer"], t["answer"]) for o, t in zip(ours, theirs) if o["answer"] != t["answer"]][:3]}


def run(llava_python: str, scratch: Path, n_images: int, max_new_tokens: int) -> list[dict]:
    from evalkit.tools.tiny_original import save_all

    paths = save_all(scratch)
    images = draw_images(scratch, n_images)
    items = [{"image": str(image), "question": q} for image in images for q in QUESTIONS]
    runs = [("llava15", paths["llava15"], None), ("llava15_lora", paths["llava15_lora"], paths["llava15"]),
            ("llava16", paths["llava16"], None)]
    spec = {"max_new_tokens": max_new_tokens, "items": items,
            "checkpoints": [{"key": k, "path": str(p), "base": str(b) if b else None} for k, p, b in runs]}
    (scratch / "spec.json").write_text(json.dumps(spec))
    start = time.perf_counter()
    done = subprocess.run([llava_python, str(REFERENCE_SCRIPT), str(scratch / "spec.json"), str(scratch / "ref.json")],
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the original LLaVA path failed:\n{done.stderr[-3000:]}")
    reference = json.loads((scratch / "ref.json").read_text())
    reference_s = time.perf_counter() - start
    table = []
    for key, path, base in runs:
        rows, record = evalkit_rows(path, base, items, scratch / "cache", max_new_tokens)
        table.append({"checkpoint": key, **compare(rows, reference[key]), "convert_s": record["seconds"],
                      "cache_bytes": record["bytes"], "tower_weights": record["vision_tower_weights"]})
    print(f"(original path: {reference_s:.0f} s for {len(runs)} checkpoints x {len(items)} items)")
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llava-python", required=True, help="python of the environment with llava-torch")
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--scratch", help="keep the checkpoints and outputs here (default: a temporary directory)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        table = run(args.llava_python, Path(args.scratch or tmp), args.images, args.max_new_tokens)
    header = f"{'checkpoint':14} {'ids equal':>10} {'answers equal':>14} {'distinct':>9} {'max |dlogit|':>13} " \
             f"{'convert s':>10} {'cache KiB':>10}  tower weights"
    print(header)
    for row in table:
        print(f"{row['checkpoint']:14} {row['ids_equal']:>4}/{row['n']:<5} {row['answers_equal']:>8}/{row['n']:<5} "
              f"{row['distinct_answers']:>9} {row['max_logit_diff']:>13.2e} {row['convert_s']:>10.2f} "
              f"{row['cache_bytes'] / 1024:>10.0f}  {row['tower_weights']}")
        for ours, theirs in row["mismatches"]:
            print(f"    evalkit {ours!r} vs original {theirs!r}")
    if any(r["answers_equal"] != r["n"] or r["ids_equal"] != r["n"] for r in table):
        sys.exit(1)


if __name__ == "__main__":
    main()
