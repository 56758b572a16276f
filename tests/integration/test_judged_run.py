"""A judged benchmark in one command: the shipped tiny LLaVA-1.5 answers LLaVA-Bench questions on
real images, and `judge=hf` (a tiny local chat LM, in-process) judges them before scoring; a judge
endpoint that cannot be reached stops the command before any generation."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from PIL import Image

from tests.support.tiny_chat_lm import build_tiny_chat_lm
from tests.integration.test_llava_bench import IMAGES, make_files

REPO = Path(__file__).resolve().parents[2]


def bench_with_images(root: Path) -> Path:
    bench = make_files(root)
    for n, name in enumerate(sorted(set(IMAGES))):
        Image.new("RGB", (64 + 32 * n, 64), (40 * n, 120, 200)).save(bench / "images" / name)
    return bench


def evalkit(*args: str):
    return subprocess.run([sys.executable, "-m", "evalkit", "model=tiny_llava15", "dataset=llava_bench",
                           "progress=false", "device=cpu", "decoding.max_new_tokens=8", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def test_generate_and_judge_with_a_local_hf_judge(tmp_path: Path) -> None:
    bench = bench_with_images(tmp_path)
    judge = build_tiny_chat_lm(tmp_path / "judge-lm")
    out = tmp_path / "run"
    result = evalkit(f"dataset.path={bench}", f"output_dir={out}", "judge=hf", f"judge.path={judge}",
                     "judge.max_tokens=6", "judge.name=tiny")
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in (out / "judgments-tiny.jsonl").read_text().splitlines()]
    assert records[0]["header"]["kind"] == "hf" and len(records) == 1 + len(IMAGES)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["judge"] == "tiny" and summary["metrics"]["judge"] == "tiny"
    assert summary["metrics"]["n_unjudged"] == 0
    # A random LM's reviews are unreadable: counted, and averaged in as [-1, -1] as LLaVA's summary does.
    assert summary["metrics"]["llava_bench_parse_failures"] == len(IMAGES)
    # Rescoring reads the cache: the same numbers without loading any judge.
    rescored = subprocess.run([sys.executable, "-m", "evalkit.score", str(out)], cwd=REPO, capture_output=True,
                              text=True, timeout=300)
    assert rescored.returncode == 0, rescored.stderr[-2000:]
    rescored_metrics = json.loads((out / "summary.json").read_text())["metrics"]
    assert {k: rescored_metrics[k] for k in summary["metrics"]} == summary["metrics"]


def test_unreachable_judge_stops_before_generation(tmp_path: Path) -> None:
    bench = bench_with_images(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "run"
    result = evalkit(f"dataset.path={bench}", f"output_dir={out}", "judge=openai",
                     f"judge.base_url=http://127.0.0.1:{port}/v1", "judge.model=gpt-4-0314", "judge.max_retries=0")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert f"http://127.0.0.1:{port}/v1" in last and "gpt-4-0314" in last and "unreachable" in last
    assert not (out / "predictions.jsonl").exists() and not (out / "shards").exists()
