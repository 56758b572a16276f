"""`judge=openai` end to end against a real OpenAI-compatible server on 127.0.0.1: `transformers
serve` with a tiny chat model built from config (offline). Requests go out concurrently, every reply
is cached, a `python -m evalkit.judge` killed with SIGKILL mid-judging resumes without repeating a
request, the random model's malformed replies are counted as parse failures (never a silent 0),
and an unknown model or an unreachable server fails with one line naming the URL and the model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from datasets_adapters.llava_bench import LlavaBenchDataset
from evalkit.judge.config import validate_judge
from evalkit.judge.stage import check_judge, judge_run
from evalkit.score import rescore_run
from evalkit.serving.openai_client import EndpointError
from tests.support.judge_runs import write_run
from tests.support.tiny_chat_lm import build_tiny_chat_lm
from tests.integration.test_llava_bench import QUESTIONS, make_files

REPO = Path(__file__).resolve().parents[2]
TARGET = "datasets_adapters.llava_bench.LlavaBenchDataset"
SERVE = shutil.which("transformers", path=str(Path(sys.executable).parent)) or shutil.which("transformers")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("fastapi")
    pytest.importorskip("openai")
    if SERVE is None:
        pytest.skip("the transformers CLI is not installed")
    model = build_tiny_chat_lm(tmp_path_factory.mktemp("judge_lm") / "tiny-judge")
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen([SERVE, "serve", str(model), "--host", "127.0.0.1", "--port", str(port),
                                "--device", "cpu"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(base_url + "/models", timeout=1).read()
            break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                pytest.fail(f"transformers serve did not start: {process.stdout.read().decode()[-2000:]}")
            time.sleep(0.3)
    yield base_url, str(model)
    process.terminate()
    process.wait(timeout=20)


def judge_cli(run_dir: Path, base_url: str, model: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evalkit.judge", str(run_dir), "judge=openai",
                             f"judge.base_url={base_url}", f"judge.model={model}", "judge.max_tokens=6", *extra],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_openai_judge_against_transformers_serve(server, tmp_path: Path) -> None:
    base_url, model = server
    bench = make_files(tmp_path)
    items = LlavaBenchDataset(path=str(bench)).load()
    run_dir = write_run(tmp_path / "run", TARGET, items, {i.id: q[2] for i, q in zip(items, QUESTIONS)},
                        name="llava_bench", path=str(bench))
    judgments = run_dir / "judgments-tiny-judge.jsonl"

    # Kill -9 after the first replies are stored (one request in flight at a time).
    process = judge_cli(run_dir, base_url, model, "judge.concurrency=1")
    deadline = time.time() + 60
    while time.time() < deadline and (not judgments.exists() or len(judgments.read_text().splitlines()) < 3):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stored = [json.loads(line) for line in judgments.read_text().splitlines()[1:] if line.strip().endswith("}")]
    assert 2 <= len(stored) < len(items)

    # Resume, concurrently: only the requests not answered go out; nothing is repeated.
    process = judge_cli(run_dir, base_url, model, "judge.concurrency=4")
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert f"{len(items) - len(stored)} request(s) to send" in output
    records = [json.loads(line) for line in judgments.read_text().splitlines()[1:]]
    assert len(records) == len({r["key"] for r in records}) == len(items)
    assert {r["model"] for r in records} == {model}  # the model id as the server reports it
    assert all(r["completion_tokens"] > 0 for r in records)

    # The tiny model's replies are not "s1 s2": each is a parse failure, counted and reported.
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["judge"] == "tiny-judge"
    assert summary["judges"]["tiny-judge"]["completion_tokens"] == sum(r["completion_tokens"] for r in records)
    _, scores = rescore_run(run_dir, None)  # the server is not asked again
    unreadable = sum(1 for r in records if not _pair(r["reply"]))
    assert scores.headline["llava_bench_parse_failures"] == unreadable > 0

    # A rerun sends nothing.
    judge_run(run_dir, validate_judge({"kind": "openai", "base_url": base_url, "model": model, "max_tokens": 6}))
    assert len(judgments.read_text().splitlines()) == 1 + len(items)


def _pair(reply: str) -> bool:
    from datasets_adapters.llava_bench import parse_score

    return parse_score(reply) != [-1, -1]


def test_unknown_model_and_unreachable_server_fail_in_one_line(server) -> None:
    base_url, _ = server
    with pytest.raises(EndpointError, match=rf"judge endpoint {base_url} does not serve model 'gpt-4o'"):
        check_judge(validate_judge({"kind": "openai", "base_url": base_url, "model": "gpt-4o"}), LlavaBenchDataset)
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EndpointError, match=rf"judge endpoint {dead} \(model m\) is unreachable") as caught:
        check_judge(validate_judge({"kind": "openai", "base_url": dead, "model": "m", "max_retries": 0,
                                    "timeout_s": 2}), LlavaBenchDataset)
    assert "\n" not in str(caught.value)


def test_mmbench_extraction_against_transformers_serve(server, tmp_path: Path) -> None:
    """MMBench's LLM choice extraction over a real server: the random model's replies are mostly
    unreadable, so answers are re-asked with the same prompt (each ask its own cached request, at
    most 3) before the fallback; the counts add up; rescoring and a rerun never ask again."""
    from collections import Counter

    from datasets_adapters import mmbench_llm as LLM
    from datasets_adapters.mmbench import MMBenchDataset
    from tests.support.mmbench_llm_script import answers, table

    base_url, model = server
    rows = table(10)
    tsv = tmp_path / "dev.tsv"
    rows.to_csv(tsv, sep="\t", index=False)
    items = MMBenchDataset(path=str(tsv)).load()
    run_dir = write_run(tmp_path / "run", "datasets_adapters.mmbench.MMBenchDataset", items,
                        dict(zip(rows["index"].astype(str), answers(rows))), name="mmbench", path=str(tsv))
    cfg = validate_judge({"kind": "openai", "base_url": base_url, "model": model, "max_tokens": 4})
    judge_run(run_dir, cfg)
    records = [json.loads(line) for line in (run_dir / "judgments-tiny-judge.jsonl").read_text().splitlines()[1:]]
    asks = Counter(r["id"] for r in records)
    assert len({r["key"] for r in records}) == len(records) and set(asks.values()) <= {1, 2, 3}
    assert 3 in asks.values()  # the same prompt sent again: a request of its own, not the cached reply
    options = {i.id: i.meta["options"] for i in items}
    for item_id, n in asks.items():
        read = [bool(LLM.read_reply(r["reply"], options[item_id])) for r in records if r["id"] == item_id]
        assert read == [False] * (n - 1) + [read[-1]] and (n == 3 or read[-1])  # asked until read, 3 at most
    headline = rescore_run(run_dir, None)[1].headline
    assert headline["mmbench_llm_decided"] + headline["mmbench_fallback_decided"] == len(asks)
    assert headline["mmbench_fallback_decided"] == sum(1 for i, n in asks.items() if n == 3 and not LLM.read_reply(
        [r for r in records if r["id"] == i][-1]["reply"], options[i]))
    judge_run(run_dir, cfg)  # everything cached: nothing sent
    assert len((run_dir / "judgments-tiny-judge.jsonl").read_text().splitlines()) == 1 + len(records)
