"""evalkit.report over run directories written here with the documented layout: discovery, run
names from differing config values, leaderboard, per-category tables, pivots, paired comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evalkit.scoring import stats as S
from evalkit.report.__main__ import main
from evalkit.report.compare import compare_runs
from evalkit.report.discover import describe_runs, find_run_dirs, load_run, load_runs, varying_keys
from evalkit.report.leaderboard import ablation_pivots, category_long, category_tables, leaderboard, tasks_of
from evalkit.registry import benchmark_of_config
from evalkit.scoring.scorer import score_predictions, write_scores


def config(name: str = "m15", layer: int = -2, **top) -> dict:
    """A resolved config.yaml like `python -m evalkit` writes (only the fields that matter here)."""
    cfg = {
        "model": {"_target_": "evalkit.models.llava.LlavaModel", "name": name, "path": f"hub/{name}-hf",
                  "family": "llava15", "prompt": "llava_eval", "vision_feature_layer": layer,
                  "image_grid_pinpoints": None},
        "dataset": {"_target_": "datasets_adapters.yesno_files.YesNoFileDataset", "name": "toy", "path": "q.jsonl"},
        "decoding": {"mode": "greedy", "max_new_tokens": 128},
        "batch_size": 8, "output_dir": None, "run_name": None, "seed": 0, "progress": True, "num_workers": 0,
    }
    cfg.update(top)
    return cfg


def items(n: int = 8) -> list[dict]:
    return [{"id": f"q{i}", "question": f"Is there a thing {i}?", "answer": "yes" if i % 2 == 0 else "no",
             "category": "colour" if i < n // 2 else "shape", "group": f"img{i // 2}", "task": "yesno"}
            for i in range(n)]


def write_run(folder: Path, cfg: dict, answers: list[str], rows: list[dict] | None = None,
              items_per_s: float = 10.0) -> Path:
    """A run directory: config.yaml, predictions.jsonl (PredictionRow columns), metrics.csv, summary.json."""
    rows = rows if rows is not None else items(len(answers))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    preds = [{**item, "prediction": text, "text": text, "parsed": text.lower(), "correct": text.lower() == item["answer"],
              "error": None, "p_yes": None, "batch_size": 8, "batch_time_s": 0.1, "n_input_tokens": 10, "prompt": None,
              "meta": {}} for item, text in zip(rows, answers)]
    (folder / "predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds), encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps({"n_items": len(preds), "n_errors": 0,
                                                     "items_per_s": items_per_s}), encoding="utf-8")
    write_scores(folder, score_predictions(pd.DataFrame(preds), benchmark_of_config(cfg)))
    return folder


Y, N = "Yes", "No"
TRUTH = [Y, N, Y, N, Y, N, Y, N]  # items(8) answers


@pytest.fixture
def sweep(tmp_path) -> Path:
    """A 2x2 ablation (model.name x vision_feature_layer) in a Hydra-multirun-like tree, with
    different batch sizes and output dirs (which must not name the runs)."""
    answers = {
        ("m15", -1): [Y, N, Y, N, Y, N, Y, N],  # 8/8
        ("m15", -2): [Y, Y, Y, N, Y, N, Y, Y],  # 6/8
        ("m16", -1): [Y, Y, Y, Y, Y, Y, Y, Y],  # 4/8, yes to everything
        ("m16", -2): [N, N, N, N, Y, N, Y, N],  # 6/8
    }
    for k, ((name, layer), ans) in enumerate(answers.items()):
        write_run(tmp_path / "multirun" / "2024-01-01_00-00-00" / str(k) / "run",
                  config(name, layer, batch_size=2 ** k, output_dir=f"/elsewhere/{k}"), ans, items_per_s=1.0 + k)
    return tmp_path / "multirun"


def test_discovery_is_recursive_and_skips_unfinished_runs(sweep, tmp_path):
    (tmp_path / "multirun" / "unfinished").mkdir()
    (tmp_path / "multirun" / "unfinished" / "config.yaml").write_text("model: {name: x}\n")
    with pytest.warns(RuntimeWarning, match="unfinished"):
        dirs = find_run_dirs([sweep])
    assert len(dirs) == 4
    single = dirs[0]
    assert find_run_dirs([single, single / "predictions.jsonl"]) == [single]


def test_runs_are_named_by_differing_config_values(sweep):
    runs = load_runs([sweep])
    keys = varying_keys(runs)
    assert keys == ["model.name", "model.path", "model.vision_feature_layer"]  # not batch_size/output_dir
    assert describe_runs(runs) == ["model.name", "model.vision_feature_layer"]  # path follows the name
    assert sorted(r.label for r in runs) == ["name=m15, vision_feature_layer=-1", "name=m15, vision_feature_layer=-2",
                                             "name=m16, vision_feature_layer=-1", "name=m16, vision_feature_layer=-2"]


def test_a_confounded_key_stays_visible(tmp_path):
    """Layer changes together with the model: both must be in the name (only path/family are implied)."""
    a = write_run(tmp_path / "a", config("m15", -1), TRUTH)
    b = write_run(tmp_path / "b", config("m16", -2), TRUTH)
    runs = load_runs([a, b])
    assert [r.label for r in runs] == ["name=m15, vision_feature_layer=-1", "name=m16, vision_feature_layer=-2"]


def test_repeated_configs_get_unique_labels_and_seed_is_ignored_when_greedy(tmp_path):
    a = write_run(tmp_path / "r1", config(seed=1), TRUTH)
    b = write_run(tmp_path / "r2", config(seed=2), TRUTH)
    runs = load_runs([tmp_path])
    assert varying_keys(runs) == []
    assert [r.label for r in runs] == ["r1", "r2"]
    c = write_run(tmp_path / "r3", config(seed=3, decoding={"mode": "sample", "max_new_tokens": 128}), TRUTH)
    assert "seed" in varying_keys([load_run(p) for p in (a, b, c)])


def test_leaderboard_numbers_and_order(sweep):
    runs = load_runs([sweep])
    board = leaderboard(runs, varying_keys(runs))
    assert board["accuracy"].tolist() == [1.0, 0.75, 0.75, 0.5]  # sorted best first
    assert board["run"].iloc[0] == "name=m15, vision_feature_layer=-1"
    m16_yes = board[board["run"] == "name=m16, vision_feature_layer=-1"].iloc[0]
    assert (m16_yes["yes_ratio"], m16_yes["n_items"], m16_yes["n_errors"], m16_yes["items_per_s"]) == (1.0, 8, 0, 3.0)
    assert "mme_perception" not in board.columns  # no run has it


def test_category_tables(sweep):
    runs = load_runs([sweep])
    tables = category_tables(category_long(runs), tasks_of(runs))
    assert [(d, t, v) for d, t, v, _ in tables] == [("toy", "yesno", "accuracy")]
    table = tables[0][3]
    assert list(table.columns) == ["colour", "shape"]  # the pooled "all" row is the leaderboard's
    assert table.loc["name=m15, vision_feature_layer=-2"].tolist() == [0.75, 0.75]
    assert table.loc["name=m16, vision_feature_layer=-2"].tolist() == [0.5, 1.0]


def test_ablation_pivot(sweep):
    runs = load_runs([sweep])
    [(dataset, metric, pivot)] = ablation_pivots(runs)
    assert (dataset, metric) == ("toy", "accuracy")
    assert pivot.index.name == "model.name" and pivot.columns.name == "model.vision_feature_layer"
    assert pivot.loc["m15"].tolist() == [1.0, 0.75] and pivot.loc["m16"].tolist() == [0.5, 0.75]
    [(_, _, yes_pivot)] = ablation_pivots(runs, "yes_ratio")
    assert yes_pivot.loc["m16", "-1"] == 1.0


def test_flipped_items_exact(tmp_path):
    a = write_run(tmp_path / "a", config("m15"), [Y, N, N, N, Y, Y, Y, N])  # wrong: q2, q5
    b = write_run(tmp_path / "b", config("m16"), [N, N, Y, N, Y, N, Y, Y])  # wrong: q0, q7
    ra, rb = load_run(a), load_run(b)
    describe_runs([ra, rb])
    comparison = compare_runs(ra, rb, n_boot=200)
    flips = comparison.flips
    assert flips[["id", "answer", "parsed_a", "parsed_b", "change"]].values.tolist() == [
        ["q0", "yes", "yes", "no", "broken"],
        ["q2", "yes", "no", "yes", "fixed"],
        ["q5", "no", "yes", "no", "fixed"],
        ["q7", "no", "no", "yes", "broken"],
    ]
    assert flips["question"].tolist() == ["Is there a thing 0?", "Is there a thing 2?", "Is there a thing 5?",
                                          "Is there a thing 7?"]
    assert (comparison.only_a_right, comparison.only_b_right) == (2, 2)
    assert comparison.p_mcnemar == 1.0
    assert comparison.deltas["accuracy"].delta == 0.0


def test_compare_cli_refuses_different_item_sets(tmp_path, capsys):
    a = write_run(tmp_path / "a", config("m15"), TRUTH)
    b = write_run(tmp_path / "b", config("m16"), [Y, N, N, N, Y, Y], rows=items(8)[:6])
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert "2 id(s) of A are missing from B" in err and "0 id(s) of B are missing from A" in err
    assert "--intersect" in err
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp"), "--intersect", "--n-boot", "300"]) == 0
    info = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert (info["n_paired"], info["n_only_a"], info["n_only_b"]) == (6, 2, 0)
    assert (info["only_a_right"], info["only_b_right"]) == (2, 0)
    assert info["p_mcnemar"] == pytest.approx(0.5)
    assert info["deltas"]["accuracy"]["delta"] == pytest.approx(4 / 6 - 1)
    flips = pd.read_csv(tmp_path / "cmp" / "flips.csv")
    assert flips["id"].tolist() == ["q2", "q5"]


def test_compare_refuses_other_ground_truth(tmp_path, capsys):
    a = write_run(tmp_path / "a", config("m15"), TRUTH)
    other = items(8)
    other[3]["answer"] = "yes"
    b = write_run(tmp_path / "b", config("m16"), TRUTH, rows=other)
    assert main(["compare", str(a), str(b), "--intersect", "--out", str(tmp_path / "cmp")]) == 2
    assert "different ground truth" in capsys.readouterr().err


def test_report_cli_with_baseline(sweep, tmp_path):
    out = tmp_path / "report"
    base = sweep / "2024-01-01_00-00-00" / "1" / "run"  # m15, layer -2
    assert main([str(sweep), "--out", str(out), "--baseline", str(base), "--n-boot", "300"]) == 0
    board = pd.read_csv(out / "leaderboard.csv")
    row = board[board["run"] == "name=m16, vision_feature_layer=-2"].iloc[0]
    # baseline right on q0 q2 q3 q4 q5 q6; m16/-2 right on q1 q2 q3 q5 q6 q7
    assert row["vs_base_only_base_right"] == 2 and row["vs_base_only_run_right"] == 2
    assert row["vs_base_p_mcnemar"] == pytest.approx(S.mcnemar_exact(2, 2))
    assert row["vs_base_d_accuracy"] == pytest.approx(0.0)
    best = board[board["run"] == "name=m15, vision_feature_layer=-1"].iloc[0]
    assert best["vs_base_d_accuracy"] == pytest.approx(0.25)
    assert best["vs_base_d_accuracy_low"] <= 0.25 <= best["vs_base_d_accuracy_high"]
    assert pd.isna(board[board["run"] == "name=m15, vision_feature_layer=-2"].iloc[0]["vs_base_d_accuracy"])
    assert {"model.name", "model.path", "model.vision_feature_layer"} <= set(board.columns)
    md = (out / "leaderboard.md").read_text()
    assert "Baseline: **name=m15, vision_feature_layer=-2**" in md and "# Ablations" in md
    assert sorted(p.name for p in (out / "flips").iterdir()) == [
        "name=m15_vision_feature_layer=-1.csv", "name=m16_vision_feature_layer=-1.csv",
        "name=m16_vision_feature_layer=-2.csv"]
    assert pd.read_csv(out / "pivot_toy.csv").shape == (2, 3)
    assert (out / "report.html").is_file()
    # a baseline named by its label works too; an unknown one is a clear error
    assert main([str(sweep), "--out", str(out), "--baseline", "name=m15, vision_feature_layer=-2", "--n-boot", "50"]) == 0
    assert main([str(sweep), "--out", str(out), "--baseline", "nope"]) == 2


def test_report_cli_errors(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2
    assert "no run directories" in capsys.readouterr().err


def test_imported_predictions_count_as_runs(tmp_path):
    """`python -m evalkit.score --benchmark` output has no config.yaml: its source file names it."""
    write_run(tmp_path / "ours", config("m15"), TRUTH)
    imported = write_run(tmp_path / "theirs", config("m15"), [Y, Y, Y, N, Y, N, Y, N])
    (imported / "config.yaml").unlink()
    summary = json.loads((imported / "summary.json").read_text())
    summary["source"] = {"file": "/answers/llava.jsonl", "format": "llava_answers", "benchmark": "yesno"}
    (imported / "summary.json").write_text(json.dumps(summary))
    runs = load_runs([tmp_path])
    assert [r.path.name for r in runs] == ["ours", "theirs"]
    assert runs[1].dataset == "yesno" and "file=/answers/llava.jsonl" in runs[1].label
    comparison = compare_runs(runs[0], runs[1], n_boot=100)
    assert (comparison.only_a_right, comparison.only_b_right, len(comparison.flips)) == (1, 0, 1)


def test_unknown_metric_is_an_error(sweep, tmp_path, capsys):
    assert main([str(sweep), "--out", str(tmp_path / "r"), "--metric", "acuracy"]) == 2
    err = capsys.readouterr().err
    assert "--metric acuracy: no run has it" in err and "accuracy" in err
    assert main([str(sweep), "--out", str(tmp_path / "r"), "--metric", "yes_ratio"]) == 0
    assert "## toy · yes_ratio" in (tmp_path / "r" / "leaderboard.md").read_text()


def test_slices_by_an_item_meta_field(tmp_path, capsys):
    """--by small: accuracy per run, task and meta value, computed from the predictions."""
    rows = [{**item, "meta": {"small": i in (0, 1, 2)}} for i, item in enumerate(items(8))]
    write_run(tmp_path / "runs" / "a", config("m15"), [Y, N, N, N, Y, N, Y, N], rows)  # wrong on q2 (small)
    write_run(tmp_path / "runs" / "b", config("m16"), [Y, N, Y, N, Y, Y, Y, N], rows)  # wrong on q5 (large)
    for path in (tmp_path / "runs").glob("*/predictions.jsonl"):  # write_run drops meta: put it back
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps({**p, "meta": r["meta"]}) + "\n" for p, r in zip(lines, rows)))
    out = tmp_path / "report"
    assert main([str(tmp_path / "runs"), "--out", str(out), "--by", "small"]) == 0
    slices = pd.read_csv(out / "slices.csv", dtype={"value": str}).set_index(["run", "value"])
    assert slices.loc[("name=m15", "True"), "accuracy"] == pytest.approx(2 / 3)
    assert slices.loc[("name=m15", "False"), "accuracy"] == pytest.approx(1.0)
    assert slices.loc[("name=m16", "True"), "accuracy"] == pytest.approx(1.0)
    assert slices.loc[("name=m16", "False"), "n"] == 5 and slices.loc[("name=m16", "False"), "accuracy"] == 0.8
    assert "## toy · accuracy by small" in (out / "leaderboard.md").read_text()
    # runs over different item sets share one column per slice; n says it differs
    rows_c = rows[:6]
    write_run(tmp_path / "runs" / "c", config("m17"), [Y, N, N, N, Y, N], rows_c)
    path = tmp_path / "runs" / "c" / "predictions.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({**p, "meta": r["meta"]}) + "\n" for p, r in zip(lines, rows_c)))
    assert main([str(tmp_path / "runs"), "--out", str(out), "--by", "small"]) == 0
    md = (out / "leaderboard.md").read_text()
    assert "yesno small=True (n=3)" in md and "yesno small=False (n=3-5)" in md and md.count("small=False") == 1
    assert main([str(tmp_path / "runs"), "--out", str(out), "--by", "nope"]) == 2
    assert "no prediction has that meta field" in capsys.readouterr().err


def test_slice_auroc_reads_past_yes_bias(tmp_path):
    """A slice of present objects only (POPE probe=small) is ranked against the task's absent ones:
    a model that says yes to everything has full recall there but no better AUROC than its p_yes allows."""
    probes = ["small", "absent", "large", "absent", "small", "absent", "large", "absent"]  # items(8): yes, no, ...
    rows = [{**item, "meta": {"probe": probe}} for item, probe in zip(items(8), probes)]
    p_yes = {"sees": [0.9, 0.1, 0.9, 0.2, 0.8, 0.3, 0.95, 0.4],   # small ranked above every absent one
             "says_yes": [0.6, 0.7, 0.9, 0.8, 0.55, 0.9, 0.95, 0.65]}  # small below most absent ones
    for name, probs in p_yes.items():
        folder = write_run(tmp_path / "runs" / name, config(name), [Y] * 8, rows)
        path = folder / "predictions.jsonl"
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps({**p, "meta": r["meta"], "p_yes": q}) + "\n"
                                for p, r, q in zip(lines, rows, probs)))
    out = tmp_path / "report"
    assert main([str(tmp_path / "runs"), "--out", str(out), "--by", "probe"]) == 0
    slices = pd.read_csv(out / "slices.csv").set_index(["run", "value"])
    assert slices.loc[("name=sees", "small"), "accuracy"] == slices.loc[("name=says_yes", "small"), "accuracy"] == 1.0
    assert slices.loc[("name=sees", "small"), "auroc"] == 1.0
    # says_yes: small p_yes 0.6, 0.55 against absent 0.7, 0.8, 0.9, 0.65 -> 0 of 8 pairs
    assert slices.loc[("name=says_yes", "small"), "auroc"] == 0.0
    # large 0.9, 0.95 against the same: 3 + a tie (1/2) + 4 of 8 pairs
    assert slices.loc[("name=says_yes", "large"), "auroc"] == pytest.approx(7.5 / 8)
    md = (out / "leaderboard.md").read_text()
    table = md.split("## toy · auroc by probe")[1].split("##")[0]
    # absent (no answers) is ranked against all present ones: 7.5 of 16 pairs
    assert "| name=says_yes | 0.469 | 0.938 | 0.000 |" in table and "| name=sees | 1.000 | 1.000 | 1.000 |" in table
