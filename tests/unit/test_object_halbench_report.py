"""Object HalBench runs in reports: leaderboard columns with their direction, `report compare`'s
paired bootstrap over answers, report.html, and a run's predictions re-grounded with --annotations."""

from __future__ import annotations

import json

from evalkit import score as score_cli
from evalkit.report.__main__ import main as report_main
from evalkit.report.compare import compare_runs
from evalkit.report.discover import describe_runs, load_runs
from evalkit.report.leaderboard import headlines, leaderboard
from support.objhal_files import ANSWERS, write_files

# a second model's answers to the same questions: fewer hallucinations
OTHER = ["A man walking his dog.", "An elephant and a bird.", "A passenger jet.", "A toilet.", "A man in a bow tie.",
         "A coffee table.", "A street.", "Two buses and a train.", "A teddy bear and a TV.", "A dog.", "An elephant."]



def test_objhal_runs_in_leaderboard_compare_html_and_regrounded(nltk_data, tmp_path):
    coco, questions, answers = write_files(tmp_path)
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({"question_id": k, "prompt": q, "text": t}) + "\n"
                             for k, ((_, q, _), t) in enumerate(zip(ANSWERS, OTHER))))
    for name, path in (("a", answers), ("b", other)):
        assert score_cli.main(["--benchmark", "object_halbench", str(path), "--annotations", str(coco),
                               "--questions", str(questions), "--out", str(tmp_path / "runs" / name)]) == 0
    runs = load_runs([tmp_path / "runs"])
    describe_runs(runs)
    specs = {h.name: h for h in headlines(runs)}
    assert specs["objhal_response_hall"].direction == "lower" and specs["objhal_object_hall"].direction == "lower"
    assert specs["objhal_recall"].direction == "higher"
    assert {"objhal_response_hall", "objhal_object_hall", "objhal_recall", "objhal_len"} <= set(leaderboard(runs, []).columns)
    a, b = sorted(runs, key=lambda r: r.path.name)
    comparison = compare_runs(a, b, n_boot=200)
    d = comparison.deltas["objhal_response_hall"]
    summaries = {r.path.name: json.loads((r.path / "summary.json").read_text())["metrics"] for r in (a, b)}
    assert (d.a, d.b) == (summaries["a"]["objhal_response_hall"], summaries["b"]["objhal_response_hall"])
    assert d.low <= d.delta <= d.high and d.n_units == len(ANSWERS)
    assert {"objhal_object_hall", "objhal_recall"} <= set(comparison.deltas)
    out = tmp_path / "report"
    assert report_main([str(tmp_path / "runs"), "--out", str(out), "--n-boot", "100"]) == 0
    assert "<mark>cat</mark>" in (out / "report.html").read_text()
    # a run's own predictions, re-grounded against the annotations, give the same numbers
    assert score_cli.main(["--benchmark", "object_halbench", str(a.path / "predictions.jsonl"), "--annotations",
                           str(coco), "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "summary.json").read_text())["metrics"]
    assert {k: v for k, v in again.items() if k.startswith("objhal")} == \
        {k: v for k, v in summaries["a"].items() if k.startswith("objhal")}
