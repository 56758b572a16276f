"""The paper table end to end (issue 32): `+experiment=shapes_table`, the shapes miniature of a suite
(the two shipped tiny checkpoints; the shapes tasks mme, pope, choice as columns), one multirun ->
`python -m evalkit.report table` in every format, published rows from a test-made file with a
paired interval, the table at the top of report.html; and a suite's data check (one list, no model
loaded) and judged-column rule."""

from __future__ import annotations

import csv
import json
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from evalkit.errors import ConfigError
from evalkit.report.__main__ import main as report_main
from evalkit.report.discover import load_runs
from evalkit.report.table import load_published
from evalkit.suite import sweep_jobs, unjudged_skip

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ["shapes tasks=mme", "shapes tasks=pope", "shapes tasks=choice"]


def _env() -> dict:
    # This checkout's evalkit, whatever the venv's editable install points at; nothing from the hub.
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def evalkit(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, cwd=cwd,
                          env=_env(), timeout=600)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("suite")
    result = evalkit(["--multirun", "+experiment=shapes_table", "model=tiny_llava15,tiny_llava16", "limit=6",
                      "device=cpu", "progress=false", f"results_root={root / 'results'}"], root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "every benchmark's files found" in result.stderr
    return root


def test_suite_runs_every_cell_of_the_table(sweep):
    runs = load_runs([sweep / "results"])
    cells = sorted((run.flat["model.name"], run.config["dataset"]["tasks"][0]) for run in runs)
    assert cells == sorted((m, t) for m in ("tiny_llava15", "tiny_llava16") for t in ("mme", "pope", "choice"))
    assert all(run.config["suite"]["name"] == "shapes_table" and run.config["limit"] == 6 for run in runs)


def test_table_report_in_every_format(sweep, capsys):
    out = sweep / "table"
    assert report_main(["table", str(sweep / "results"), "--format", "md,csv,latex,html", "--out", str(out),
                        "--n-boot", "200"]) == 0
    with capsys.disabled():
        print(capsys.readouterr().out)  # the md table (pytest -s shows it)
    runs = {(r.flat["model.name"], r.config["dataset"]["tasks"][0]): r for r in load_runs([sweep / "results"])}
    md = (out / "table.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| model"))
    assert header == "| model | " + " | ".join(COLUMNS) + " |"  # the sweep's order
    for model in ("tiny_llava15", "tiny_llava16"):
        row = next(line for line in md.splitlines() if line.startswith(f"| {model} |"))
        cells = [c.strip() for c in row.strip("|").split("|")][1:]
        # each cell: the run's own headline (MME points as is, rates in %), one decimal, * = partial (limit)
        expected = [runs[model, "mme"].summary["metrics"]["mme_perception"],
                    100 * runs[model, "pope"].summary["metrics"]["pope_mean_f1"],
                    100 * runs[model, "choice"].summary["metrics"]["choice_accuracy"]]
        assert cells == [f"{v:.1f}*" for v in expected]
    assert "* partial: tiny_llava15, every column: limit=6" in md

    rows = list(csv.reader(io.StringIO((out / "table.csv").read_text())))
    assert rows[0] == ["kind", "model", *COLUMNS] and [r[0] for r in rows[1:]] == ["run", "run"]
    tex = (out / "table.tex").read_text()
    assert "\\begin{tabular}{lccc}" in tex and "tiny\\_llava15" in tex and "\\bottomrule" in tex
    page = (out / "table.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<tr") == 3


def test_published_rows_differences_and_paired_interval(sweep, tmp_path, capsys):
    published = tmp_path / "published.yaml"
    published.write_text(yaml.safe_dump({
        "tables": {"shapes_table": {"title": "Shapes (test)", "columns": [
            {"name": "POPE", "dataset": "shapes", "where": {"tasks": ["pope"]}, "metric": "pope_mean_f1"},
            {"name": "POPE rand F1", "dataset": "shapes", "where": {"tasks": ["pope"]}, "category": "random",
             "metric": "f1"},
            {"name": "MME", "dataset": "shapes", "where": {"tasks": ["mme"]}, "metric": "mme_perception", "digits": 0},
            {"name": "VQA", "dataset": "vqav2", "metric": "vqav2_accuracy", "submission": True},
            {"name": "Object HalBench", "unavailable": "not implemented"}]}},
        "rows": [{"model": "tiny-ref", "runs_as": ["tiny_llava15"], "source": "made up by this test",
                  "values": {"POPE": 80.0, "MME": 450}}]}))
    assert report_main(["table", str(sweep / "results"), "--published", "tiny-ref", "--published-file",
                        str(published), "--out", str(tmp_path / "t"), "--n-boot", "200"]) == 0
    md = capsys.readouterr().out
    runs = {(r.flat["model.name"], r.config["dataset"]["tasks"][0]): r for r in load_runs([sweep / "results"])}
    assert "| model | POPE | POPE rand F1 | MME | VQA | Object HalBench |" in md
    assert "| tiny-ref (published) | 80.0 | – | 450 | – | – |" in md
    metrics = runs["tiny_llava16", "pope"].category_metrics
    rand_f1 = 100 * float(metrics[metrics["category"] == "random"]["f1"].iloc[0])
    row16 = next(line for line in md.splitlines() if line.startswith("| tiny_llava16 |"))
    assert row16.split("|")[3].strip() == f"{rand_f1:.1f}*" and row16.split("|")[5].strip() == "–"  # VQA: not run
    deltas = [line for line in md.splitlines() if line.startswith("| Δ vs tiny-ref |")]
    assert len(deltas) == 2  # one under each run row
    pope15 = 100 * runs["tiny_llava15", "pope"].summary["metrics"]["pope_mean_f1"]
    pope16 = 100 * runs["tiny_llava16", "pope"].summary["metrics"]["pope_mean_f1"]
    assert deltas[0].split("|")[2].strip() == f"{round(pope15, 1) - 80.0:+.1f}"  # its own checkpoint: no interval
    # tiny_llava16: run − published, and the paired interval of tiny_llava16 − the local tiny_llava15 run
    local = re.search(r"\(vs local run: ([-+.\d]+) \[([-+.\d]+), ([-+.\d]+)\]\)", deltas[1].split("|")[2])
    assert deltas[1].split("|")[2].strip().startswith(f"{round(pope16, 1) - 80.0:+.1f} (vs local run: ")
    middle, low, high = map(float, local.groups())
    assert middle == pytest.approx(pope16 - pope15, abs=0.05) and low <= middle <= high
    assert "Object HalBench: not run (not implemented)" in md and "source: tiny-ref: made up by this test" in md


def test_report_html_starts_with_the_table_linking_each_cell(sweep):
    out = sweep / "report"
    assert report_main([str(sweep / "results"), "--out", str(out), "--n-boot", "100"]) == 0
    page = (out / "report.html").read_text()
    assert page.index("suite shapes_table") < page.index("<h2>Leaderboard</h2>")
    assert page.count('<a href="#board-shapes"') == 6 and 'id="board-shapes"' in page


def test_missing_files_are_listed_once_before_any_model_loads(tmp_path):
    result = evalkit(["--multirun", "+experiment=llava15_table", "hydra.sweeper.params.dataset='gqa,textvqa,mmvet'",
                      "model=tiny_llava15", f"data_root={tmp_path / 'none'}", f"results_root={tmp_path / 'r'}"],
                     tmp_path)
    assert result.returncode == 2
    err = result.stderr
    assert "error: suite llava15_table: 2 benchmark(s) cannot run; no model was loaded" in err
    assert f"dataset gqa: dataset.questions: no such file {tmp_path / 'none'}/gqa/" in err
    assert f"dataset textvqa: dataset.annotations: no such file {tmp_path / 'none'}/textvqa/" in err
    assert "dataset mmvet is judged and no judge is configured" in err and "skipped" in err
    assert not (tmp_path / "r").exists()


def test_hallucination_suite_names_what_it_cannot_run(tmp_path):
    """The callback's check in-process: the unavailable column is named, a judged column without a
    judge refused under suite.unjudged=fail, missing files listed."""
    from hydra import compose, initialize_config_dir

    from evalkit.config import conf_dir
    from evalkit.registry import register_configs
    from evalkit.suite import check_suite

    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        def composed(overrides):
            return compose(config_name="config", overrides=overrides)

        base = ["+experiment=hallucination", "model=tiny_llava15", f"data_root={tmp_path}"]
        assert not composed(base).suite.unavailable  # Object HalBench runs now (dataset=object_halbench)
        problems, notes = check_suite(sweep_jobs([*base, "suite.unjudged=fail"], {"dataset": "mmhal,hallusionbench,amber"}),
                                      composed)
    assert notes == [] and len(problems) == 3
    # HallusionBench's official judge is GPT-4: without one, evalkit's deterministic rule would stand in
    for problem, name in zip(problems, ("mmhal", "hallusionbench")):
        assert f"dataset {name} is judged" in problem and "suite.unjudged=fail refuses" in problem
    assert problems[2].startswith("dataset amber: ") and str(tmp_path / "AMBER") in problems[2]


def test_judged_cell_without_judge_is_skipped_or_refused():
    cfg = OmegaConf.create({"suite": {"name": "t", "unjudged": "skip"}, "judge": None,
                            "dataset": {"_target_": "datasets_adapters.mmvet.MMVetDataset", "name": "mmvet"}})
    assert "skipped" in unjudged_skip(cfg)
    cfg.suite.unjudged = "fail"
    with pytest.raises(ConfigError, match="suite.unjudged=fail"):
        unjudged_skip(cfg)
    cfg.suite.name = None  # outside a suite: the run goes on as before (judge later with evalkit.judge)
    assert unjudged_skip(cfg) is None
    cfg.suite.name, cfg.dataset = "t", {"_target_": "datasets_adapters.pope.POPEDataset", "name": "pope"}
    assert unjudged_skip(cfg) is None


def test_a_suites_judge_is_for_its_judged_columns_only():
    from evalkit.suite import judge_applies

    pope = {"_target_": "datasets_adapters.pope.POPEDataset", "name": "pope"}
    mmvet = {"_target_": "datasets_adapters.mmvet.MMVetDataset", "name": "mmvet"}
    judge = {"_target_": "x", "name": "openai"}
    in_suite = {"suite": {"name": "t"}, "judge": judge}
    assert not judge_applies(OmegaConf.create({**in_suite, "dataset": pope}))
    assert judge_applies(OmegaConf.create({**in_suite, "dataset": mmvet}))
    # outside a suite, judge=... on an unjudged benchmark goes on to check_judge's refusal
    assert judge_applies(OmegaConf.create({"suite": {"name": None}, "judge": judge, "dataset": pope}))


def test_sweep_jobs_expand_as_hydra_does():
    jobs = sweep_jobs(["+experiment=x", "model=a,b"], {"dataset": "gqa,pope"})
    assert jobs == [["+experiment=x", "model=a", "dataset=gqa"], ["+experiment=x", "model=a", "dataset=pope"],
                    ["+experiment=x", "model=b", "dataset=gqa"], ["+experiment=x", "model=b", "dataset=pope"]]


def test_shipped_published_rows_have_sources_and_fit_their_tables():
    tables, rows = load_published()
    assert {"llava15_table", "llava16_table", "hallucination"} <= set(tables)
    assert rows["llava-v1.5-7b"].values["MME"] == 1510.7 and rows["llava-v1.6-vicuna-7b"].values["MMMU"] == 35.8
    for row in rows.values():
        assert row.source and row.table in tables
        assert set(row.values) <= {c.name for c in tables[row.table]["columns"]}, row.model


def test_a_suite_under_a_launcher_runs_one_cell_only():
    from evalkit.__main__ import multirun_under_launcher

    assert multirun_under_launcher(["+experiment=llava15_table", "model=a"], {"WORLD_SIZE": "8"})  # refused
    assert multirun_under_launcher(["+experiment=llava15_table", "hydra.mode=RUN", "dataset=gqa"],
                                   {"WORLD_SIZE": "8"}) is None


def test_shipped_columns_name_a_headline_of_their_benchmark():
    """A typo in the published file's metric would leave a column empty for every run."""
    from evalkit.config import conf_dir
    from evalkit.registry import benchmark_named

    tables, _rows = load_published()
    options = {p.stem for p in (conf_dir() / "dataset").glob("*.yaml")}
    for name, table in tables.items():
        for column in table["columns"]:
            if column.unavailable or column.category:
                continue
            datasets = [column.dataset] if isinstance(column.dataset, str) else column.dataset
            assert set(datasets) <= options, (name, column.name)
            for dataset in datasets:
                assert column.metric in {h.name for h in benchmark_named(dataset).headlines()}, (name, column.name)


def test_every_suite_sweeps_options_that_exist():
    from evalkit.config import conf_dir

    options = {p.stem for p in (conf_dir() / "dataset").glob("*.yaml")}
    for suite in ("llava15_table", "llava16_table", "hallucination"):
        experiment = yaml.safe_load((conf_dir() / "experiment" / f"{suite}.yaml").read_text())
        swept = experiment["hydra"]["sweeper"]["params"]["dataset"].split(",")
        assert set(swept) <= options and experiment["suite"]["name"] == suite


def test_a_setting_that_changes_only_with_the_column_does_not_split_rows(sweep):
    """max_new_tokens differing by benchmark (captions get more) belongs to the column, not the row."""
    from evalkit.report.table import row_keys

    runs = load_runs([sweep / "results"])
    for run in runs:
        if run.config["dataset"]["tasks"] == ["choice"]:
            run.flat["decoding.max_new_tokens"] = "512"
    assert row_keys(runs) == ["model.name"]
    runs[0].flat["decoding.max_new_tokens"] = "7"  # now two runs of one column differ in it: a row key
    assert "decoding.max_new_tokens" in row_keys(runs)


def _fake_run(folder: Path, model: str, dataset: dict, metrics: dict, limit=None) -> None:
    """A run directory as the report reads it: config.yaml, summary.json's headline (predictions
    only need to exist: the stored headline is what the table shows)."""
    folder.mkdir(parents=True)
    config = {"model": {"name": model, "path": f"hub/{model}"}, "dataset": dataset,
              "decoding": {"_target_": "evalkit.decoding.greedy.Greedy", "name": "greedy"}, "limit": limit,
              "suite": {"name": "llava15_table"}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "predictions.jsonl").write_text("")
    (folder / "summary.json").write_text(json.dumps({"n_items": 10, "n_errors": 0, "metrics": metrics}))


def test_llava15_columns_pick_their_runs_submission_and_judged_cells(tmp_path):
    from evalkit.report.table import build_table, render

    gqa = {"_target_": "datasets_adapters.gqa.GQADataset", "name": "gqa"}
    mmb = {"_target_": "datasets_adapters.mmbench.MMBenchDataset", "name": "mmbench", "lang": "en"}
    _fake_run(tmp_path / "a", "llava15", gqa, {"gqa_accuracy": 0.6204})
    _fake_run(tmp_path / "b", "llava15", mmb, {"mmbench_circular_accuracy": 0.641})
    _fake_run(tmp_path / "c", "llava15", {**mmb, "name": "mmbench_cn", "lang": "cn"},
              {"mmbench_circular_accuracy": 0.5812}, limit=100)
    _fake_run(tmp_path / "d", "llava15", {"_target_": "datasets_adapters.vqav2.VQAv2Dataset", "name": "vqav2"},
              {"vqav2_accuracy": None})
    (tmp_path / "d" / "upload.json").write_text("[]")
    md = render(build_table(load_runs([tmp_path]), published=["llava-v1.5-7b"]), "md")
    header = md.splitlines()[2]
    assert header.startswith("| model | VQAv2 | GQA | VizWiz | SQA-IMG |") and header.endswith("MM-Vet |")
    row = [c.strip() for c in md.splitlines()[4].strip("|").split("|")]
    assert row[:3] == ["llava15", "submitted (upload.json)", "62.0"]
    assert row[8:10] == ["64.1", "58.1*"] and row[12] == "–"  # MMBench, MMBench-CN (limit), MM-Vet not run
    delta = [c.strip() for c in md.splitlines()[5].strip("|").split("|")]
    assert delta[:3] == ["Δ vs llava-v1.5-7b", "–", "+0.0"] and delta[8:10] == ["-0.2", "-0.2"]
    assert "* partial: llava15 × MMBench-CN: limit=100" in md
