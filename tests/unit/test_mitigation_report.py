"""`python -m evalkit.report mitigation`: a mitigation run is paired with its matched controls
(greedy, the same sampler without contrast, the mask alone at the same beta) over the same items,
seeds paired, with report compare's statistics and the yes/no shift; unmatched runs are left out."""

from __future__ import annotations

import pandas as pd
import pytest

from evalkit.report.__main__ import main
from evalkit.report.compare import compare_runs
from evalkit.report.discover import load_runs
from evalkit.report.mitigation import arms_of, controls_of, mitigation_report
from test_report import TRUTH, N, Y, config, items, write_run  # the run-directory writer of the report tests

VCD = {"_target_": "evalkit.decoding.contrastive.Contrastive", "name": "vcd", "negative": "noised_image",
       "alpha": 1.0, "beta": 0.1, "do_sample": True, "temperature": 1.0, "top_p": 1.0, "max_new_tokens": 128,
       "noise_step": 500, "instruction": "x", "schedule": "constant", "m3id_lambda": 0.02}
APC = {**VCD, "name": "apc_sample", "negative": "none", "alpha": 0.0}
SAMPLE = {"_target_": "evalkit.decoding.sample.Sample", "name": "sample", "max_new_tokens": 128, "temperature": 1.0,
          "top_p": 1.0}
GREEDY = {"_target_": "evalkit.decoding.greedy.Greedy", "name": "greedy", "max_new_tokens": 128, "num_beams": 1}

# TRUTH = Y N Y N Y N Y N
ANSWERS = {
    ("greedy", 0): [Y, N, N, N, Y, N, N, N],
    ("sample", 0): [Y, N, N, Y, N, N, Y, N], ("sample", 1): [N, N, Y, N, Y, Y, N, N],
    ("sample_cold", 0): [Y, N, Y, N, Y, N, Y, N],  # another temperature: not VCD's control
    ("apc_sample", 0): [Y, N, Y, N, N, N, Y, N], ("apc_sample", 1): [Y, Y, Y, N, Y, N, N, N],
    ("vcd", 0): [Y, Y, Y, N, Y, Y, Y, N], ("vcd", 1): [Y, Y, Y, Y, Y, N, Y, N],
}
DECODING = {"greedy": GREEDY, "sample": SAMPLE, "sample_cold": {**SAMPLE, "name": "sample_cold", "temperature": 0.2}, "apc_sample": APC,
            "vcd": VCD}


@pytest.fixture
def sweep(tmp_path):
    for k, ((name, seed), answers) in enumerate(ANSWERS.items()):
        write_run(tmp_path / "multirun" / str(k), config(decoding=DECODING[name], seed=seed), answers)
    write_run(tmp_path / "other" / "vcd", config(decoding=VCD, seed=0), [Y] * 6, rows=items(6))  # other items
    return tmp_path


def test_controls_are_matched_by_decoding_values_model_and_items(sweep):
    arms = arms_of(load_runs([sweep]))
    vcd = [a for a in arms if a.decoding["name"] == "vcd" and len(a.runs) == 2]
    assert len(vcd) == 1 and sorted(vcd[0].runs) == [0, 1]
    found = {role: arm.decoding["name"] for role, arm in controls_of(vcd[0], arms)}
    assert found == {"greedy": "greedy", "sample": "sample", "apc": "apc_sample"}
    apc = next(a for a in arms if a.decoding["name"] == "apc_sample")
    assert {role for role, _ in controls_of(apc, arms)} == {"greedy", "sample"}  # no mask-alone control of itself


def test_statistics_are_report_compares_per_seed_pair_and_the_yes_no_shift(sweep):
    runs = load_runs([sweep / "multirun"])
    report = mitigation_report(runs, n_boot=200)
    by_key = {(r.config["decoding"]["name"], r.config["seed"]): r for r in runs}
    pairs = report.pairs[(report.pairs["arm"].str.contains("vcd")) & (report.pairs["control"] == "sample")]
    assert sorted(pairs["seed"].unique()) == [0, 1]
    for seed in (0, 1):
        expected = compare_runs(by_key[("sample", seed)], by_key[("vcd", seed)], n_boot=200)
        row = pairs[(pairs["seed"] == seed) & (pairs["statistic"] == "accuracy")].iloc[0]
        assert row["delta"] == pytest.approx(expected.deltas["accuracy"].delta)
        assert row["low"] == pytest.approx(expected.deltas["accuracy"].low)
        assert row["p_mcnemar"] == pytest.approx(expected.p_mcnemar)
    greedy = report.pairs[(report.pairs["arm"].str.contains("vcd")) & (report.pairs["control"] == "greedy")]
    assert sorted(greedy["seed"].unique()) == [0, 1]  # both seeds against the one greedy run
    shift = report.shifts[(report.shifts["arm"].str.contains("vcd")) & (report.shifts["control"] == "greedy")]
    seed0 = shift[shift["seed"] == 0].iloc[0]
    # greedy Y N N N Y N N N -> vcd seed 0 Y Y Y N Y Y Y N: 4 no->yes, 0 yes->no
    assert (seed0["no_to_yes"], seed0["yes_to_no"]) == (4, 0)
    assert seed0["yes_ratio_shift"] == pytest.approx(6 / 8 - 2 / 8)
    assert seed0["d_acc_truth_yes"] == pytest.approx(1.0 - 0.5)  # truth-yes items: 2/4 -> 4/4
    assert seed0["d_acc_truth_no"] == pytest.approx(2 / 4 - 1.0)  # truth-no items: 4/4 -> 2/4
    arms = report.arms[report.arms["metric"] == "accuracy"].set_index("arm")["mean"]
    assert arms[next(a for a in arms.index if "apc" in a)] == pytest.approx((7 / 8 + 6 / 8) / 2)


def test_cli_writes_tables_and_refuses_runs_without_controls(sweep, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["mitigation", str(sweep / "multirun"), "--out", str(out), "--n-boot", "100"]) == 0
    printed = capsys.readouterr().out
    assert "yes-ratio control → run" in printed and "McNemar" in printed
    assert {p.name for p in out.iterdir()} >= {"mitigation.md", "mitigation_pairs.csv", "report.html"}
    assert "sample_cold" not in (out / "mitigation.md").read_text().split("Differences")[1]  # never a control
    assert len(pd.read_csv(out / "mitigation_pairs.csv")) > 0
    assert main(["mitigation", str(sweep / "other"), "--out", str(out)]) == 2
    assert "no mitigation run with a matched baseline" in capsys.readouterr().err


def test_a_benchmark_of_its_own_enters_through_its_headlines(tmp_path, monkeypatch):
    """No yes/no table and no named metric: the dots example's headline numbers (one of them
    lower-is-better) per arm, and the share correct per seed pair where its task declares no
    paired statistics (the mean per-item score every task gets from report compare)."""
    from pathlib import Path

    from evalkit import trust

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "docs" / "examples" / "dots"))
    monkeypatch.setenv("EVALKIT_TRUST", "dots")  # the user names their module (evalkit.trust)
    trust.trust([])
    rows = [{"id": f"d{i}", "question": "How many dots?", "answer": str(i % 4), "category": "dots",
             "group": f"img{i}", "task": "count"} for i in range(8)]
    dots = {"_target_": "dots.DotsBenchmark", "name": "dots", "n_images": 8, "seed": 7, "question_suffix": ""}
    answers = {"greedy": ["0", "1", "2", "3", "0", "1", "1", "1"], "vcd": ["0", "1", "2", "2", "0", "1", "2", "3"]}
    for name, decoding in (("greedy", GREEDY), ("vcd", VCD)):
        write_run(tmp_path / name, config(dataset=dots, decoding=decoding, seed=0), answers[name], rows=rows)
    try:
        report = mitigation_report(load_runs([tmp_path]), n_boot=100)
    finally:
        trust.reset()
    assert set(report.arms["metric"]) == {"count_accuracy", "count_mae"}
    assert report.directions["count_mae"] == "lower"
    row = report.pairs[report.pairs["statistic"] == "accuracy"].iloc[0]
    assert (row["base"], row["value"]) == pytest.approx((6 / 8, 7 / 8))
    assert report.shifts.empty


def test_the_yes_no_shift_counts_only_the_yes_no_tasks_items(sweep):
    """A run mixing yes/no probes with captions (shapes pope + describe) gets the shift of its
    probes: yesno_shift is restricted to the named tasks' items."""
    from evalkit.report.mitigation import yesno_shift

    runs = {(r.config["decoding"]["name"], r.config["seed"]): r for r in load_runs([sweep / "multirun"])}
    base, run = runs[("greedy", 0)], runs[("vcd", 0)]
    assert yesno_shift(base, run, {"yesno"}) == yesno_shift(base, run)  # every fixture item is a yesno item
    frame = run.scores.frame
    frame.loc[frame["id"].isin(["q1", "q2"]), "task"] = "describe"  # two items become another task's
    base.scores.frame.loc[base.scores.frame["id"].isin(["q1", "q2"]), "task"] = "describe"
    only = yesno_shift(base, run, {"yesno"})
    # greedy Y N N N Y N N N -> vcd Y Y Y N Y Y Y N without q1, q2: 2 no->yes (q5, q6) of 6 items
    assert (only["no_to_yes"], only["yes_to_no"]) == (2, 0)
    assert only["yes_ratio_shift"] == pytest.approx(4 / 6 - 2 / 6)
