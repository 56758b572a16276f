"""`python -m evalkit.tools.bench --engines hf,vllm`: whole-command time and answers equal to
`engine=hf`, per engine, on the whole-command bench's yes/no file sets (1 and 6 questions per image,
evalkit.tools.bench_command) and on captions (`shapes` describe items, greedy up to
--caption-tokens), for both tiny families.

A served engine's row includes its server's start (vLLM on CPU: minutes), so the row without it
is shown too: `loop s` is the run's batches only (summary.json). `same` counts answers (the
stripped text) equal to engine=hf's, item by item; `p_yes` the largest |p_yes difference| where
both give one. vLLM rows need --vllm-python (or $EVALKIT_VLLM_PYTHON): an environment with vLLM
(evalkit/tools/vllm_env.sh builds the CPU one). Caption rows score CHAIR, which needs NLTK's data.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evalkit.tools.bench_command import MODEL_OPTIONS, REPO_DIR, write_set

ENGINES = ("hf", "vllm")


def engine_overrides(engine: str, vllm_python: str | None, concurrency: int) -> list[str]:
    if engine == "hf":
        return []
    return ["engine=vllm", f"engine.python={vllm_python}", f"engine.concurrency={concurrency}",
            f"batch_size={max(8, concurrency)}"]  # a batch's requests are what is in flight


def run(command: list[str], out: Path, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO_DIR)}
    launched = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO_DIR)
    wall = time.time() - launched
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    return {"wall": wall, "loop": summary["wall_time_s"], "errors": summary["n_errors"],
            "answers": {r["id"]: r["text"] for r in rows}, "p_yes": {r["id"]: r.get("p_yes") for r in rows}}


def yesno_command(questions: Path, model: str, out: Path, max_new_tokens: int, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "evalkit", f"model={MODEL_OPTIONS[model]}", "dataset=yesno",
            f"dataset.path={questions}", f"decoding.max_new_tokens={max_new_tokens}", f"output_dir={out}",
            "progress=false", *overrides]


def caption_command(n_images: int, model: str, out: Path, max_new_tokens: int, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "evalkit", f"model={MODEL_OPTIONS[model]}", "dataset=shapes",
            f"dataset.n_images={n_images}", "dataset.tasks=[describe]", f"decoding.max_new_tokens={max_new_tokens}",
            f"output_dir={out}", "progress=false", *overrides]


def same(result: dict, base: dict) -> str:
    equal = sum(result["answers"].get(k) == v for k, v in base["answers"].items())
    gaps = [abs(result["p_yes"][k] - v) for k, v in base["p_yes"].items()
            if v is not None and result["p_yes"].get(k) is not None]
    return f"{equal}/{len(base['answers'])}" + (f", p_yes max diff {max(gaps):.1e}" if gaps else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evalkit.tools.bench --engines", description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="hf,vllm")
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--questions-per-image", type=int, nargs="+", default=[1, 6])
    parser.add_argument("--models", nargs="+", default=list(MODEL_OPTIONS), choices=list(MODEL_OPTIONS))
    parser.add_argument("--max-new-tokens", type=int, default=6)
    parser.add_argument("--caption-images", type=int, default=50, help="describe items per family (0: no caption rows)")
    parser.add_argument("--caption-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of engine=hf (OMP_NUM_THREADS)")
    parser.add_argument("--concurrency", type=int, default=16, help="engine.concurrency of the served rows")
    parser.add_argument("--vllm-python", default=os.environ.get("EVALKIT_VLLM_PYTHON"))
    parser.add_argument("--data-dir", help="keep the generated image sets here (default: a temporary folder)")
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if engines[0] != "hf":
        parser.error("--engines: the first engine is the reference the others are compared with; start with hf")
    if "vllm" in engines and not args.vllm_python:
        parser.error("--engines vllm needs --vllm-python (or EVALKIT_VLLM_PYTHON): see evalkit/tools/vllm_env.sh")

    print(f"evalkit.tools.bench --engines {','.join(engines)}: {time.strftime('%Y-%m-%d')}, rows as they finish",
          flush=True)
    header = f"{'set':<16}{'model':<9}{'engine':<8}{'wall s':>8}{'loop s':>8}{'speed':>8}  same answers as hf"
    rows = [header, "-" * (len(header) + 10)]
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(args.data_dir) if args.data_dir else Path(scratch)
        sets = [(f"{args.items} yes/no q{q}", q) for q in args.questions_per_image]
        if args.caption_images:
            sets.append((f"{args.caption_images} captions", 0))
        for label, q in sets:
            questions = write_set(data / f"set-{args.items}-{q}", args.items, q) if q else None
            for model in args.models:
                results = []
                for engine in engines:
                    out = Path(scratch) / f"run-{q}-{model}-{engine}"
                    extra = engine_overrides(engine, args.vllm_python, args.concurrency)
                    command = (yesno_command(questions, model, out, args.max_new_tokens, extra) if q else
                               caption_command(args.caption_images, model, out, args.caption_tokens, extra))
                    results.append((engine, run(command, out, args.threads)))
                base = results[0][1]
                for engine, r in results:
                    errors = f"  ({r['errors']} error rows)" if r["errors"] else ""
                    compared = same(r, base) if r is not base else f"{len(base['answers'])} (the reference)"
                    rows.append(f"{label:<16}{model:<9}{engine:<8}{r['wall']:>8.1f}{r['loop']:>8.1f}"
                                f"{base['wall'] / r['wall']:>7.2f}x  {compared}{errors}")
                    print(rows[-1], flush=True)  # a long bench shows its rows as they come
    load = os.getloadavg()
    print(f"evalkit.tools.bench --engines {','.join(engines)}: greedy, yes/no max_new_tokens={args.max_new_tokens}, "
          f"captions max_new_tokens={args.caption_tokens}, hf torch threads={args.threads}, served concurrency="
          f"{args.concurrency}, {os.cpu_count()} CPUs, load average after {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
          f"{time.strftime('%Y-%m-%d')}")
    print("\n".join(rows))  # the whole table again, after the rows printed as they came
    print("wall: launch to exit (a served engine's includes starting its server); loop: the run's batches; speed: "
          "hf's wall / this wall; same: stripped answers equal to engine=hf's, item by item")


if __name__ == "__main__":
    main()
