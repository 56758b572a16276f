"""lmms-eval sample logs (doc_id, doc, resps, filtered_resps) of the four multiple-choice
benchmarks, rescored by `python -m evalkit.score --benchmark ...`: the same answers give the same
numbers as the official scripts / the LLaVA-format imports that the parity tests check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit import score as score_cli
from support.mmbench_files import predictions, question_rows
from support.scienceqa_files import write_scienceqa

SUPPORT = Path(__file__).resolve().parents[1] / "support"


def write_samples(path: Path, samples: list[tuple[dict, str]]) -> Path:
    path.write_text("".join(json.dumps({"doc_id": n, "doc": doc, "target": "", "resps": [[text]],
                                        "filtered_resps": [text]}, ensure_ascii=False) + "\n"
                            for n, (doc, text) in enumerate(samples)))
    return path


def score(benchmark: str, path: Path, out: Path, *extra: str) -> dict:
    assert score_cli.main(["--benchmark", benchmark, str(path), "--out", str(out), *extra]) == 0
    return json.loads((out / "summary.json").read_text())["metrics"]


def test_scienceqa_samples(tmp_path):
    paths = write_scienceqa(tmp_path / "sqa")
    problems = json.loads((paths["root"] / "problems.json").read_text())
    texts = {a["question_id"]: a["text"] for a in map(json.loads, paths["answers"].read_text().splitlines())}
    samples = [(problems[pid], texts.get(pid, "")) for pid in json.loads((paths["root"] / "pid_splits.json").read_text())["test"]]
    lmms = score("scienceqa", write_samples(tmp_path / "s.jsonl", samples), tmp_path / "a")
    llava = score("scienceqa", paths["answers"], tmp_path / "b", "--questions", str(paths["root"]))
    assert lmms["scienceqa_accuracy"] == pytest.approx(llava["scienceqa_accuracy"])


def test_mmbench_samples(tmp_path):
    table = question_rows()
    tsv = tmp_path / "dev.tsv"
    table.to_csv(tsv, sep="\t", index=False)
    preds = predictions(table)
    docs = [{k: (None if v != v else v) for k, v in row.items() if k != "image"} for row in table.to_dict("records")]
    lmms = score("mmbench", write_samples(tmp_path / "s.jsonl", list(zip(docs, preds))), tmp_path / "a")
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"question_id": int(i), "prompt": "", "text": t}) + "\n"
                               for i, t in zip(table["index"], preds)))
    llava = score("mmbench", answers, tmp_path / "b", "--questions", str(tsv))
    for name in ("mmbench_circular_accuracy", "mmbench_vanilla_accuracy"):
        assert lmms[name] == pytest.approx(llava[name])


def test_seed_samples(tmp_path):
    from tests.integration.test_seed_parity import write_files

    annotation, result, questions = write_files(tmp_path)
    texts = {a["question_id"]: a["text"] for a in map(json.loads, result.read_text().splitlines())}
    lmms = score("seed_bench", write_samples(tmp_path / "s.jsonl", [(q, texts[int(q["question_id"])]) for q in questions]),
                 tmp_path / "a", "--questions", str(annotation))
    llava = score("seed_bench", result, tmp_path / "b", "--questions", str(annotation))
    for name in ("seed_image_accuracy", "seed_accuracy"):
        assert lmms[name] == pytest.approx(llava[name])


def test_mmmu_samples_reproduce_the_example_outputs(tmp_path):
    samples = []
    for path in sorted((SUPPORT / "mmmu" / "example_outputs" / "llava1.5_13b").glob("*/output.json")):
        for r in json.loads(path.read_text()):
            doc = {"id": r["id"], "question_type": r["question_type"], "answer": r["answer"]}
            if r["question_type"] == "multiple-choice":
                doc["options"] = str(list(r["index2ans"].values()))
            samples.append((doc, r["response"]))
    metrics = score("mmmu", write_samples(tmp_path / "s.jsonl", samples), tmp_path / "a")
    assert round(metrics["mmmu_accuracy"], 3) == 0.367
