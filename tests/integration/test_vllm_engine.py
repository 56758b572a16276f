"""`engine=vllm` against `engine=hf` on both shipped tiny checkpoints, on CPU, with a real vLLM server
(an environment built by evalkit/tools/vllm_env.sh; EVALKIT_VLLM_PYTHON names its python):
- greedy answers (yes/no and 48-token captions) equal transformers' item for item, P(yes) close;
- sampled answers reproduce per seed (engine=openai against a server started here);
- a server killed mid-run stops the run with an error, and the same command resumes it to the
  end, every item once, with the answers of an uninterrupted run.
Each server start takes minutes on CPU: these tests are marked `vllm`, outside the default tier."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit.config import PACKAGE_DIR

pytestmark = pytest.mark.vllm
VLLM_PYTHON = os.environ.get("EVALKIT_VLLM_PYTHON")
REPO = PACKAGE_DIR.parent
FAMILIES = ("tiny_llava15", "tiny_llava16")


@pytest.fixture(scope="module")
def vllm_python() -> str:
    if not VLLM_PYTHON:
        pytest.skip("no vLLM environment: set EVALKIT_VLLM_PYTHON to its python (evalkit/tools/vllm_env.sh builds one)")
    from evalkit.serving.vllm_server import has_vllm

    why = has_vllm(VLLM_PYTHON)
    if why:
        pytest.skip(why)
    return VLLM_PYTHON


def _args(model: str, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "evalkit", f"model={model}", "dataset=shapes", "dataset.n_images=6",
            "dataset.tasks=[mme,pope,describe]", "decoding.max_new_tokens=48", f"output_dir={out}", "progress=false",
            *extra]


def _env(tmp: Path, nltk_data: Path) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "EVALKIT_CACHE": str(tmp / "cache"), "NLTK_DATA": str(nltk_data),
            "PYTHONPATH": str(REPO)}


def _run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _group_of(pid: int):
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _rows(run_dir: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (run_dir / "predictions.jsonl").read_text().splitlines())}


class _Reference(dict):
    """engine=hf's answers per model, run when first asked for."""

    def __init__(self, tmp: Path, nltk_data: Path):
        super().__init__()
        self.tmp, self.nltk_data = tmp, nltk_data

    def __missing__(self, model: str) -> dict:
        _run(_args(model, self.tmp / model), _env(self.tmp, self.nltk_data))
        self[model] = _rows(self.tmp / model)
        return self[model]


@pytest.fixture(scope="module")
def hf_answers(tmp_path_factory, nltk_data):
    return _Reference(tmp_path_factory.mktemp("hf"), nltk_data)


@pytest.mark.parametrize("model", FAMILIES)
def test_greedy_answers_equal_transformers(model, vllm_python, hf_answers, tmp_path, nltk_data):
    _run(_args(model, tmp_path / "run", "engine=vllm", f"engine.python={vllm_python}"), _env(tmp_path, nltk_data))
    served, reference = _rows(tmp_path / "run"), hf_answers[model]
    assert served.keys() == reference.keys()
    different = {k: (reference[k]["text"], served[k]["text"]) for k in reference if served[k]["text"] != reference[k]["text"]}
    assert not different, f"{len(different)} of {len(reference)} answers differ: {list(different.items())[:5]}"
    assert sum(k.startswith("describe") for k in reference) == 6  # the captions are among them
    gaps = [abs(served[k]["p_yes"] - reference[k]["p_yes"]) for k in reference
            if served[k]["p_yes"] is not None and reference[k]["p_yes"] is not None]
    assert gaps and max(gaps) < 0.05  # P(yes) from the top-20 log-probs, float32 on both sides
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["model"]["engine"] == "vllm" and summary["n_errors"] == 0


@pytest.fixture(scope="module")
def server(vllm_python, tmp_path_factory):
    from evalkit.serving.vllm_server import VllmServer, hub_layout

    tmp = tmp_path_factory.mktemp("server")
    path = hub_layout(str(PACKAGE_DIR / "checkpoints" / "tiny_llava15"), tmp / "layout")
    with VllmServer(python=vllm_python, model_path=path, served_name="tiny", dtype="float32",
                    extra_args=["--generation-config", "vllm"], log_file=tmp / "server.log") as running:
        yield running


def test_sampled_answers_reproduce_per_seed(server, tmp_path, nltk_data):
    def sample(seed: int, name: str) -> dict[str, str]:
        out = tmp_path / name
        _run(_args("tiny_llava15", out, "engine=openai", f"engine.base_url={server.base_url}", "engine.model=tiny",
                   "decoding=sample", f"seed={seed}", "batch_size=5"), _env(tmp_path, nltk_data))
        return {k: r["text"] for k, r in _rows(out).items()}

    first, again, other = sample(1, "a"), sample(1, "b"), sample(2, "c")
    assert first == again
    captions = [k for k in first if k.startswith("describe")]
    assert any(first[k] != other[k] for k in captions), "another seed should change some sampled caption"


def test_a_killed_server_is_an_error_that_resume_recovers(vllm_python, hf_answers, tmp_path, nltk_data):
    import psutil

    out = tmp_path / "run"
    args = _args("tiny_llava15", out, "engine=vllm", f"engine.python={vllm_python}", "batch_size=4",
                 "engine.concurrency=4")
    env = _env(tmp_path, nltk_data)
    proc = subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    shard = out / "shards" / "rank0.jsonl"
    deadline = time.time() + 1500
    while not (shard.is_file() and len(shard.read_text().splitlines()) >= 8):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.5)
    servers = [c for c in psutil.Process(proc.pid).children() if "vllm.entrypoints" in " ".join(c.cmdline())]
    assert len(servers) == 1
    group = servers[0].pid  # the server leads its own process group (its engine and workers are in it)
    servers[0].kill()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0 and "stopped answering" in err and "resume" in err
    left = [p.pid for p in psutil.process_iter() if _group_of(p.pid) == group]
    assert not left, f"the killed server's engine processes outlived the run: {left}"
    _run(args, env)  # the same command: resumes into the directory
    rows = (out / "predictions.jsonl").read_text().splitlines()
    served = _rows(out)
    assert len(rows) == len(served) == len(hf_answers["tiny_llava15"])
    assert {k: r["text"] for k, r in served.items()} == {k: r["text"] for k, r in hf_answers["tiny_llava15"].items()}
    assert not any(r["error"] for r in served.values())
