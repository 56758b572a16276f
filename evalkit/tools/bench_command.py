"""Whole-command bench rows: `python -m evalkit ...` timed from launch to exit, on a yes/no file set
of JPEGs on disk (what real benchmarks look like: decoding and preprocessing are part of the cost).

The set: `shapes` eval scenes (mixed aspect ratios) saved as JPEG files with a questions.jsonl for
the `yesno` dataset; 1 question per image (n images) or 6 (n/6 images, POPE-style). Each evalkit
row is one subprocess; its summary.json gives the loop's wall time and the time inside the model,
so the row shows the share of the loop outside the model, and the time from launch to the first
batch (start-up: imports, config, model load, planning). lmms-eval's `llava_hf` runs the same
files in its own environment (`bench_lmms_eval`'s docstring) when that environment exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from evalkit.config import PACKAGE_DIR

REPO_DIR = PACKAGE_DIR.parent
MODEL_OPTIONS = {"llava15": "tiny_llava15", "llava16": "tiny_llava16"}


def write_set(folder: Path, n_items: int, questions_per_image: int) -> Path:
    """JPEG images + questions.jsonl (id, image, question, answer, category, group); the same
    (n_items, questions_per_image) always gives the same files."""
    from datasets_adapters.shapes import ShapesDataset

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "questions.jsonl"
    if path.is_file():
        return path
    n_images = -(-n_items // questions_per_image)
    groups: list = []
    scenes = 2 * n_images + 8
    while len(groups) < n_images:  # scenes with fewer probes than asked are skipped: draw more
        per_image: dict[str, list] = {}
        for item in ShapesDataset(split="eval", n_images=scenes, tasks=["pope"], pope_splits=["random"],
                                  question_suffix="").load():
            per_image.setdefault(item.group, []).append(item)
        groups = [rows for rows in per_image.values() if len(rows) >= questions_per_image][:n_images]
        scenes *= 2
    rows = []
    for index, group in enumerate(groups):
        name = f"{group[0].group}.jpg"
        group[0].image.save(folder / name, quality=90)
        # One question per image: alternate present / absent probes so the set stays balanced.
        chosen = group[:questions_per_image] if questions_per_image > 1 else [group[index % len(group)]]
        rows += [{"id": item.id, "image": name, "question": item.question, "answer": item.answer,
                  "category": item.category, "group": item.group} for item in chosen]
    rows = rows[:n_items]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def evalkit_command(questions: Path, model: str, out: Path, max_new_tokens: int, *overrides: str) -> list[str]:
    return [sys.executable, "-m", "evalkit", f"model={MODEL_OPTIONS[model]}", "dataset=yesno",
            f"dataset.path={questions}", f"decoding.max_new_tokens={max_new_tokens}", f"output_dir={out}",
            "progress=false", *overrides]


def run_evalkit(questions: Path, model: str, out: Path, max_new_tokens: int, threads: int, *overrides: str,
                repo: Path | None = None) -> dict:
    """One whole command (of the checkout `repo`, default this one); wall time from launch to
    exit, and from its summary the loop's time, the time inside the model and the time from
    launch to the first batch."""
    repo = repo or REPO_DIR
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(repo)}
    command = evalkit_command(questions, model, out, max_new_tokens, *overrides)
    launched = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=repo)  # -m puts the cwd first
    wall = time.time() - launched
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    loop, inside = summary["wall_time_s"], summary["generate_time_s"]
    first = summary.get("first_batch_at")
    return {"wall": wall, "loop": loop, "inside": inside, "outside": 1 - inside / loop if loop else float("nan"),
            "startup": first - launched if first else float("nan"), "answers": _answers(out / "predictions.jsonl"),
            "errors": summary["n_errors"]}


def _answers(path: Path) -> dict[str, str]:
    return {r["id"]: r["text"] for r in map(json.loads, path.read_text().splitlines())}


def run_lmms_eval(python: str, questions: Path, model: str, out: Path, max_new_tokens: int, threads: int) -> dict:
    """lmms-eval's llava_hf on the same files in its own environment (`bench_lmms_eval --file`),
    wall time from launch to exit; it reports the time inside its model's generate calls."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO_DIR)}
    command = [python, "-m", "evalkit.tools.bench_lmms_eval", "--file", str(questions), "--models", model,
               "--max-new-tokens", str(max_new_tokens), "--threads", str(threads), "--out", str(out)]
    launched = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO_DIR)
    wall = time.time() - launched
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    result = json.loads(out.read_text())
    return {"wall": wall, "loop": result["loop_s"], "inside": result["inside_s"],
            "outside": 1 - result["inside_s"] / result["loop_s"], "startup": float("nan"),
            "answers": result["answers"], "errors": 0}


def lmms_eval_python(given: str | None) -> tuple[str | None, str]:
    """The interpreter of an environment where lmms-eval imports, or None and why not."""
    python = given or os.environ.get("LMMS_EVAL_PYTHON")
    if not python:
        return None, "no lmms-eval environment given (--lmms-python or LMMS_EVAL_PYTHON; see bench_lmms_eval)"
    check = subprocess.run([python, "-c", "import lmms_eval.models.simple.llava_hf"], capture_output=True, text=True)
    if check.returncode != 0:
        return None, f"lmms-eval does not import with {python}: {(check.stderr.strip().splitlines() or ['?'])[-1]}"
    return python, ""


def _same(answers: dict, base: dict) -> str:
    def norm(text):
        return text.strip().lower().rstrip(".")

    return f"{sum(norm(answers.get(k, '')) == norm(v) for k, v in base.items())}/{len(base)}"


def main(argv: list[str] | None = None) -> None:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m evalkit.tools.bench --whole-command",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--questions-per-image", type=int, nargs="+", default=[1, 6])
    parser.add_argument("--models", nargs="+", default=list(MODEL_OPTIONS), choices=list(MODEL_OPTIONS))
    parser.add_argument("--max-new-tokens", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the model (OMP_NUM_THREADS)")
    parser.add_argument("--lmms-python", help="python of an lmms-eval environment (default: $LMMS_EVAL_PYTHON)")
    parser.add_argument("--before", help="another checkout of evalkit (e.g. the main branch) to time beside this one")
    parser.add_argument("--data-dir", help="keep the generated image sets here (default: a temporary folder)")
    parser.add_argument("--no-inline", action="store_true",
                        help="leave out the num_workers=0 rows (preprocessing on the main thread)")
    args = parser.parse_args(argv)

    lmms_python, why_not = lmms_eval_python(args.lmms_python)
    header = (f"{'q/img':>5} {'model':<8} {'harness':<22}{'wall s':>8}{'speed':>8}{'loop s':>8}{'outside':>8}"
              f"{'start s':>8}  same answers")
    rows = [header, "-" * (len(header) + 4)]
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(args.data_dir) if args.data_dir else Path(scratch)
        for q in args.questions_per_image:
            questions = write_set(data / f"set-{args.items}-{q}", args.items, q)
            for model in args.models:
                runs: list[tuple[str, dict]] = []
                if lmms_python:
                    runs.append(("lmms-eval llava_hf bs1", run_lmms_eval(lmms_python, questions, model,
                                                                         Path(scratch) / f"lmms-{q}-{model}.json",
                                                                         args.max_new_tokens, args.threads)))
                variants = [("evalkit num_workers=0", None, ("num_workers=0",))] if not args.no_inline else []
                variants.append(("evalkit (default)", None, ()))
                if args.before:
                    variants.insert(0, ("evalkit before", Path(args.before), ()))
                if lmms_python and model == "llava15":  # lmms-eval's llava_hf crops instead of padding
                    variants.append(("evalkit aspect=crop", None, ("model.image_aspect_ratio=crop",)))
                for label, repo, overrides in variants:
                    out = Path(scratch) / f"run-{q}-{model}-{len(runs)}"
                    runs.append((label, run_evalkit(questions, model, out, args.max_new_tokens, args.threads,
                                                    *overrides, repo=repo)))
                base = runs[0][1]  # lmms-eval where it runs, else the first evalkit row
                for label, r in runs:
                    ratio = base["wall"] / r["wall"]
                    same = _same(r["answers"], base["answers"])
                    errors = f"  ({r['errors']} error rows)" if r["errors"] else ""
                    rows.append(f"{q:>5} {model:<8} {label:<22}{r['wall']:>8.1f}{ratio:>7.2f}x{r['loop']:>8.1f}"
                                f"{r['outside']:>8.1%}{r['startup']:>8.1f}  {same}{errors}")
    load = os.getloadavg()
    print(f"evalkit.tools.bench --whole-command: {args.items} yes/no items (JPEG files), greedy max_new_tokens="
          f"{args.max_new_tokens}, torch threads={args.threads}, {os.cpu_count()} CPUs, load average after "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, {time.strftime('%Y-%m-%d')}")
    if not lmms_python:
        print(f"lmms-eval rows skipped: {why_not}")
    print("\n".join(rows))
    print("wall: launch to exit; speed and same answers: against the first row of each model and set (lmms-eval "
          "where its environment exists); loop: the run's batches (summary.json wall_time_s); outside: share of the "
          "loop outside the model's calls; start: launch to the first batch ready")


if __name__ == "__main__":
    main()
