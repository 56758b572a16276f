"""`report compare` on HallusionBench: McNemar over the questions (the official correctness) and
paired bootstrap intervals of aAcc over questions, qAcc over question pairs and fAcc over figures,
whose point estimates are the runs' own official numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.report.compare import compare_runs
from evalkit.report.discover import load_run
from evalkit.score import main

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "hallusionbench"
QUESTIONS = DATA / "HallusionBench.json"
SAMPLE = DATA / "HallusionBench_result_sample.json"
pytestmark = [pytest.mark.shared_data, pytest.mark.skipif(not SAMPLE.is_file(), reason=f"needs {SAMPLE} (../shared/data beside the repository)")]


def test_compare_two_result_files(tmp_path):
    records = json.loads(SAMPLE.read_text(encoding="utf-8"))
    flipped = [dict(r, model_prediction="No, it is not.") if i % 3 == 0 else r for i, r in enumerate(records)]
    (tmp_path / "b.json").write_text(json.dumps(flipped), encoding="utf-8")
    runs = []
    for name, source in (("a", SAMPLE), ("b", tmp_path / "b.json")):
        assert main(["--benchmark", "hallusionbench", str(source), "--questions", str(QUESTIONS),
                     "--out", str(tmp_path / name)]) == 0
        runs.append(load_run(tmp_path / name))
    comparison = compare_runs(*runs, n_boot=300)
    ok_a, ok_b = (r.scores.frame.set_index("id")["correct"].astype(bool) for r in runs)
    assert comparison.only_a_right == int((ok_a & ~ok_b.reindex(ok_a.index)).sum())
    assert comparison.only_b_right == int((~ok_a & ok_b.reindex(ok_a.index)).sum())
    assert comparison.only_a_right + comparison.only_b_right > 0
    for name in ("hallusionbench_aacc", "hallusionbench_qacc", "hallusionbench_facc"):
        delta = comparison.deltas[name]
        assert delta.a == pytest.approx(runs[0].headline[name]) and delta.b == pytest.approx(runs[1].headline[name])
        assert delta.low <= delta.delta <= delta.high
    assert comparison.deltas["hallusionbench_qacc"].n_units < comparison.deltas["hallusionbench_aacc"].n_units
