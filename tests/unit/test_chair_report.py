"""Reports of caption runs: leaderboard columns for CHAIR with their direction, report.html with
hallucinated objects marked, and `report compare` with paired bootstrap intervals over images."""

from __future__ import annotations

import json

from evalkit import score as score_cli
from evalkit.report.__main__ import main as report_main
from evalkit.report.captions import mark
from evalkit.report.compare import compare_runs
from evalkit.report.discover import describe_runs, load_runs
from evalkit.report.leaderboard import headlines, leaderboard
from support.coco_files import write_coco

A = {1: "A man walks his dog past a cat.", 2: "A bird on a chair.", 3: "An airplane.", 5: "A man in a bow tie.",
     6: "A dining table.", 8: "An elephant and a giraffe."}
B = {1: "A man walks his dog.", 2: "A bird.", 3: "An airplane and a train.", 5: "A man.", 6: "Wine glasses.",
     8: "An elephant."}


def test_caption_runs_in_leaderboard_compare_and_html(nltk_data, tmp_path):
    coco = write_coco(tmp_path / "coco")
    for name, caps in (("a", A), ("b", B)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"image_id": i, "caption": c}) + "\n" for i, c in caps.items()))
        assert score_cli.main(["--benchmark", "chair_coco", str(path), "--annotations", str(coco),
                               "--out", str(tmp_path / "runs" / name)]) == 0
    runs = load_runs([tmp_path / "runs"])
    describe_runs(runs)
    specs = {h.name: h for h in headlines(runs)}
    assert specs["chair_s"].direction == "lower" and specs["chair_i"].direction == "lower"
    assert specs["chair_recall"].direction == "higher"
    board = leaderboard(runs, [])
    assert {"chair_s", "chair_i", "chair_recall", "chair_len"} <= set(board.columns)
    a, b = sorted(runs, key=lambda r: r.path.name)
    comparison = compare_runs(a, b, n_boot=200)
    assert {"chair_s", "chair_i", "chair_recall"} <= set(comparison.deltas)
    d = comparison.deltas["chair_s"]
    assert d.a == json.loads((a.path / "summary.json").read_text())["metrics"]["chair_s"]
    assert d.low <= d.delta <= d.high and d.n_units == len(A)
    out = tmp_path / "report"
    assert report_main([str(tmp_path / "runs"), "--out", str(out), "--n-boot", "100"]) == 0
    html = (out / "report.html").read_text()
    assert "Captions: hallucinated objects marked" in html and "<mark>cat</mark>" in html


def test_mark_finds_plurals_and_phrases():
    assert mark("Two Red Circles & a dog", ["red circle"]) == "Two <mark>Red Circles</mark> &amp; a dog"
    assert mark("a cat", []) == "a cat"
