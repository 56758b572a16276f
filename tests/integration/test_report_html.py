"""report.html end to end: runs with MME and POPE items (like the synthetic `shapes` set) -> the CLI
-> one self-contained page; rendered by headless Chromium in the slow tier."""

from __future__ import annotations

import json
import random
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evalkit.report.__main__ import main
from evalkit.registry import benchmark_of_config
from evalkit.scoring.scorer import score_predictions, write_scores

CHROMIUM = Path("/usr/bin/chromium")
MME_SUBTASKS = ("existence", "count", "position", "color", "commonsense_reasoning")


def shapes_items() -> list[dict]:
    rows = []
    for subtask in MME_SUBTASKS:
        for g in range(10):
            for answer in ("yes", "no"):
                rows.append({"id": f"mme/{subtask}/{g}/{answer}", "task": "mme", "category": subtask,
                             "group": f"{subtask}/{g}", "answer": answer, "question": f"Is the {subtask} {g} right?"})
    for split in ("random", "popular", "adversarial"):
        for i in range(30):
            rows.append({"id": f"pope/{split}/{i}", "task": "pope", "category": split, "group": f"img{i // 6}",
                         "answer": "yes" if i % 2 == 0 else "no", "question": f"Is there a <b>thing</b> {i}?"})
    return rows


def write_run(folder: Path, name: str, layer: int, accuracy: float, yes_bias: float, seed: int) -> Path:
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    cfg = {"model": {"name": name, "path": f"hub/{name}", "family": "llava15", "vision_feature_layer": layer},
           "dataset": {"name": "shapes", "n_images": 60}, "decoding": {"mode": "greedy"}, "batch_size": 8,
           "output_dir": str(folder)}
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    preds = []
    for item in shapes_items():
        wrong = "no" if item["answer"] == "yes" else "yes"
        pred = item["answer"] if rng.random() < accuracy else ("yes" if rng.random() < yes_bias else wrong)
        text = pred.capitalize()
        preds.append({**item, "prediction": text, "text": text, "parsed": pred, "correct": pred == item["answer"],
                      "error": None, "meta": {}})
    (folder / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds), encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps({"n_items": len(preds), "n_errors": 0, "items_per_s": 5.0 + seed}))
    write_scores(folder, score_predictions(pd.DataFrame(preds), benchmark_of_config(cfg)))
    return folder


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    runs = root / "runs"
    specs = [("m15", -1, 0.70, 0.8), ("m15", -2, 0.78, 0.6), ("m16", -1, 0.80, 0.5), ("m16", -2, 0.88, 0.4)]
    for k, (name, layer, acc, bias) in enumerate(specs):
        write_run(runs / "multirun" / str(k) / "run", name, layer, acc, bias, seed=k)
    out = root / "out"
    assert main([str(runs), "--out", str(out), "--baseline", str(runs / "multirun" / "0" / "run"),
                 "--n-boot", "300"]) == 0
    cmp = root / "cmp"
    assert main(["compare", str(runs / "multirun" / "0" / "run"), str(runs / "multirun" / "3" / "run"),
                 "--out", str(cmp), "--n-boot", "300"]) == 0
    return root


# Anything the page would fetch: src/href/xlink:href attributes, CSS url() and @import.
EXTERNAL = re.compile(r"""(?:\b(?:src|href|xlink:href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//)"""
                      r"""|url\(\s*["']?\s*(?:https?:)?//|@import""", re.I)


@pytest.mark.parametrize("page", ["out/report.html", "cmp/report.html"])
def test_html_is_self_contained(report, page):
    html = (report / page).read_text(encoding="utf-8")
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    assert not re.search(r"https?://", html)  # not even a link to follow
    assert html.count("<script") == 1 and "<script src" not in html
    assert "<b>thing</b>" not in html and "&lt;b&gt;thing&lt;/b&gt;" in html  # item text is escaped


def test_report_sections(report):
    html = (report / "out" / "report.html").read_text(encoding="utf-8")
    for heading in ("Leaderboard", "Hallucination view", "Per category", "Ablations",
                    "Paired comparisons with the baseline"):
        assert f"<h2>{heading}" in html
    assert html.count("<svg") == 1 + 2 + 2  # the scatter, MME score and accuracy, POPE F1 and yes-ratio
    assert "shapes · mme · score" in html and "shapes · pope · yes_ratio" in html
    assert html.count("vs baseline</small>") == 3
    board = pd.read_csv(report / "out" / "leaderboard.csv")
    assert {"mme_perception", "mme_cognition", "pope_mean_f1", "yes_ratio", "vs_base_d_mme_perception",
            "vs_base_d_pope_mean_f1", "vs_base_p_mcnemar"} <= set(board.columns)


def test_compare_page_lists_every_flip(report):
    html = (report / "cmp" / "report.html").read_text(encoding="utf-8")
    flips = pd.read_csv(report / "cmp" / "flips.csv")
    assert len(flips) > 0
    assert html.count('<td class="t fixed">') + html.count('<td class="t broken">') == len(flips)
    info = json.loads((report / "cmp" / "comparison.json").read_text())
    assert set(info["deltas"]) == {"accuracy", "f1", "pope_mean_f1", "mme_perception", "mme_cognition"}
    assert info["config_differences"] == [["model.name", "m15", "m16"], ["model.path", "hub/m15", "hub/m16"],
                                          ["model.vision_feature_layer", "-1", "-2"]]


SORT_PROBE = """<script>
var t = document.querySelector('table.sortable'), ths = Array.from(t.querySelectorAll('th'));
var i = ths.findIndex(function (h) { return h.textContent === 'accuracy'; });
var column = function () { return Array.from(t.tBodies[0].rows).map(function (r) { return r.cells[i].textContent; }); };
ths[i].click(); var up = column(); ths[i].click(); var down = column();
document.body.setAttribute('data-probe', up.join(',') + '|' + down.join(','));
</script></body>"""


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_report_renders_in_headless_chromium(report, tmp_path):
    from PIL import Image

    shot = tmp_path / "report.png"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           "--window-size=1400,2400", f"--screenshot={shot}", (report / "out" / "report.html").as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 2400)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, bars and points were drawn, not a blank page
    palette = {(78, 121, 167), (242, 142, 43), (225, 87, 89), (118, 183, 178)}  # the four runs' colours
    assert palette <= {c for _, c in colours}
    # Sorting: click the accuracy header of the leaderboard twice, read the column back from the DOM.
    probe = (report / "out" / "probe.html")
    probe.write_text((report / "out" / "report.html").read_text(encoding="utf-8").replace("</body>", SORT_PROBE))
    dom = subprocess.run([*cmd[:-2], "--dump-dom", probe.as_uri()], check=True, capture_output=True, text=True,
                         timeout=120).stdout
    ascending, descending = re.search(r'data-probe="([^"]*)\|([^"]*)"', dom).groups()
    values = [float(v) for v in ascending.split(",")]
    assert values == sorted(values) and descending.split(",") == ascending.split(",")[::-1]
