"""MMBench with LLM choice extraction in one command, over HTTP: the shipped tiny LLaVA-1.5 answers
an MMBench TSV (official format, real images, English and Chinese questions, circular copies) and
`judge=openai` against a scripted OpenAI-compatible server on 127.0.0.1 extracts the answers
can_infer cannot read. The bodies on the wire are VLMEvalKit's requests for those answers
(build_prompt / build_prompt_cn, temperature 0, max_tokens 2048), the readable answers are never
sent, and the numbers equal VLMEvalKit's mcq_circular_eval / mcq_vanilla_eval given the same
replies (tests/support/vlmevalkit, e8e78f05); rescoring reads the cache only."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from datasets_adapters import mmbench_llm as LLM
from datasets_adapters import mmbench_metrics as M
from support.judge_server import ScriptedServer
from support.mmbench_llm_script import official_prompt
from support.vlmevalkit import mmbench_eval as V

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = [["{a}"], ["not sure", "{a}"], ["hmm", "??", "no idea"], ["Z"], ["", "{a}"], ["{w}"], ["{a}"]]


def png(n: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (48 + 16 * n, 48), (30 * n % 255, 120, 200)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def tsv_rows() -> pd.DataFrame:
    """8 questions, 2-4 options, circular copies; yes/no options (the tiny model says "Yes", which
    can_infer then reads) beside options it cannot read; every other question in Chinese."""
    rows = []
    for q in range(8):
        texts = ["yes", "no"] if q % 4 == 3 else [f"{'选项' if q % 2 else 'shape'} {q}-{k}" for k in range(2 + q % 3)]
        question = f"图中第 {q} 题是什么" if q % 2 else f"What is shown in picture {q}"
        for copy in range(len(texts)):
            rotated = texts[copy:] + texts[:copy]
            rows.append({"index": q + copy * 1_000_000, "question": question, "hint": None,
                         "answer": "ABCD"[(q % len(texts) - copy) % len(texts)], "category": "coarse_perception",
                         "l2-category": "image_scene" if q < 4 else "ocr", "split": "dev", "image": png(q),
                         **{"ABCD"[k]: rotated[k] if k < len(rotated) else None for k in range(4)}})
    return pd.DataFrame(rows)


def scripted(asked: Counter, prompt: str, rows: pd.DataFrame) -> str:
    """The judge's reply to a matching prompt's k-th ask: its scenario's k-th reply (the scenario
    picked by the prompt's hash; {a} the row's right letter, {w} another, the row found by its
    question and options in the prompt); the same function answers evalkit's server and VLMEvalKit."""
    asked[prompt] += 1
    (row,) = [r for r in rows.to_dict("records") if f"{r['question']}?" in prompt
              and V.build_option_str(V.build_choices(r)) in prompt]
    letters = [c for c in "ABCD" if isinstance(row.get(c), str)]
    wrong = letters[(letters.index(row["answer"]) + 1) % len(letters)]
    scenario = SCENARIOS[int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % len(SCENARIOS)]
    return scenario[asked[prompt] - 1].format(a=row["answer"], w=wrong)


@pytest.mark.slow  # about 17 s: a tiny-model run over 20 rows, then 28 judge requests over HTTP
def test_generate_then_extract_with_a_served_judge(tmp_path: Path, monkeypatch) -> None:
    rows = tsv_rows()
    tsv = tmp_path / "MMBench_DEV_EN.tsv"
    rows.to_csv(tsv, sep="\t", index=False)
    out = tmp_path / "run"
    asked: Counter = Counter()
    with ScriptedServer(lambda body: scripted(asked, body["messages"][0]["content"], rows), models=["gpt-4o-mini"]) as server:
        run = subprocess.run([sys.executable, "-m", "evalkit", "model=tiny_llava15", "dataset=mmbench",
                              f"dataset.path={tsv}", "progress=false", "device=cpu", "decoding.max_new_tokens=8",
                              f"output_dir={out}", "judge=openai", f"judge.base_url={server.base_url}",
                              "judge.model=gpt-4o-mini"], cwd=REPO, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        bodies = list(server.bodies)
    texts = {json.loads(line)["id"]: json.loads(line)["text"]
             for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()}

    # the wire: VLMEvalKit's requests, only for answers can_infer cannot read
    records = rows.to_dict("records")
    readable = {str(r["index"]) for r in records if M.can_infer(texts[str(r["index"])],
                                                                  {c: r[c] for c in "ABCD" if isinstance(r[c], str)})}
    prompts = {official_prompt(r, texts[str(r["index"])]): str(r["index"]) for r in records}
    assert readable and bodies
    for body in bodies:
        assert set(body) == {"model", "messages", "temperature", "max_tokens"}
        assert (body["model"], body["temperature"], body["max_tokens"]) == ("gpt-4o-mini", 0.0, 2048)
        assert prompts[body["messages"][0]["content"]] not in readable
    assert any("你是一个帮助我匹配答案" in b["messages"][0]["content"] for b in bodies)

    # the numbers: VLMEvalKit's evaluation with a judge object giving the same replies
    class Judge:
        def __init__(self):
            self.asked: Counter = Counter()

        def generate(self, prompt):
            return scripted(self.asked, prompt, rows)

    current = {}
    original = V.extract_answer_from_item

    def traced(model, item, dataset_name=None):
        current["index"] = str(int(item["index"]))
        return original(model, item, dataset_name)

    class Pick:  # VLMEvalKit's unseeded rd.choice, answered with evalkit's seeded pick for the item
        def choice(self, options):
            return LLM.fallback_letter(current["index"], options[:-1])

    monkeypatch.setattr(V, "extract_answer_from_item", traced)
    monkeypatch.setattr(V, "rd", Pick())
    data = rows.drop(columns=["answer", "image"]).assign(prediction=[texts[str(i)] for i in rows["index"]])
    circular = V.report_acc(V.mcq_circular_eval(Judge(), data.copy(), rows, 1, str(tmp_path / "c.pkl"), "MMBench_DEV_EN"))
    vanilla = V.report_acc(V.mcq_vanilla_eval(Judge(), data[data["index"] < 1_000_000].copy(), rows, 1,
                                              str(tmp_path / "v.pkl"), "MMBench_DEV_EN"))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    metrics = summary["metrics"]
    assert metrics["mmbench_llm_decided"] > 0 and metrics["mmbench_fallback_decided"] > 0
    assert metrics["mmbench_circular_accuracy"] == pytest.approx(float(circular["Overall"].iloc[0]))
    assert metrics["mmbench_vanilla_accuracy"] == pytest.approx(float(vanilla["Overall"].iloc[0]))
    assert metrics["mmbench_llm_decided"] + metrics["mmbench_fallback_decided"] == len({b["messages"][0]["content"]
                                                                                      for b in bodies})
    assert summary["judge"] == "gpt-4o-mini" and summary["judges"]["gpt-4o-mini"]["n_requests"] == len(bodies)
    table = pd.read_csv(out / "metrics.csv").set_index("category")
    assert table["circular_accuracy"].dropna().to_dict() == pytest.approx(
        {k: float(v) for k, v in circular.iloc[0].items() if k != "split"})

    # rescoring reads the cache: no server any more, the same numbers
    rescored = subprocess.run([sys.executable, "-m", "evalkit.score", str(out)], cwd=REPO, capture_output=True,
                              text=True, timeout=300)
    assert rescored.returncode == 0, rescored.stderr[-2000:]
    again = json.loads((out / "summary.json").read_text(encoding="utf-8"))["metrics"]
    assert {k: again[k] for k in metrics if k.startswith("mmbench")} == {k: v for k, v in metrics.items()
                                                                        if k.startswith("mmbench")}
