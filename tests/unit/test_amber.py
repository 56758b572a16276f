"""AMBER scored as the official inference.py: evalkit's rescoring of AMBER's inference format equals
the official script (tests/support/amber_official.py, its logic copied under Apache-2.0) run on the
same files with the same NLTK data and spaCy pipeline, for every evaluation type; the exact-answer
rule, the caption quirks, the start counters, and the dependency checks that fail early."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from datasets_adapters import amber_metrics as A
from datasets_adapters.amber import DATA_DIR, exact_yes_no
from evalkit import score
from evalkit.errors import ConfigError
from support import amber_fixture

REPO = Path(__file__).resolve().parents[2]
METRICS_TXT = REPO.parent / "shared" / "data" / "amber" / "metrics.txt"
# Official printed section -> evalkit's metrics.csv category; printed name -> column.
SECTIONS = {"Generative Task": "generative", "Descriminative Task": "discriminative", "Exsitence": "existence",
            "Attribute": "attribute", "State": "state", "Number": "number", "Action": "action", "Relation": "relation"}
NAMES = {"CHAIR": "chair", "Cover": "cover", "Hal": "hal", "Cog": "cog", "Accuracy": "accuracy",
         "Precision": "precision", "Recall": "recall", "F1": "f1"}
# inference.py's --evaluation_type -> the AMBER types it reads, and the sections it prints.
TYPES = {"a": (None, list(SECTIONS)), "g": ({"generative"}, ["Generative Task"]),
         "d": ("discriminative", ["Descriminative Task", "Exsitence", "Attribute", "State", "Number", "Action",
                                  "Relation"]),
         "de": ({"discriminative-hallucination"}, ["Exsitence"]),
         "da": ({f"discriminative-attribute-{k}" for k in ("state", "number", "action")},
                ["Attribute", "State", "Number", "Action"]),
         "dr": ({"discriminative-relation", "relation"}, ["Relation"])}


def _official(paths: dict, nlp: Path, evaluation_type: str) -> dict:
    if not METRICS_TXT.is_file():
        pytest.skip("AMBER reference data (metrics.txt) not present")
    from support import amber_official

    return amber_official.run(paths["responses"], paths["annotations"], DATA_DIR / "relation.json",
                              DATA_DIR / "safe_words.txt", METRICS_TXT, nlp, evaluation_type)


def _subset(cases, evaluation_type):
    kinds = TYPES[evaluation_type][0]
    keep = lambda kind: kinds is None or (kind != "generative" if kinds == "discriminative" else kind in kinds)
    return [c if keep(c[0]) else None for c in cases]


@pytest.mark.shared_data
@pytest.mark.parametrize("evaluation_type", list(TYPES))
def test_rescoring_amber_responses_equals_official_inference_py(tmp_path, nltk_data, amber_nlp, evaluation_type):
    paths = amber_fixture.write(tmp_path)
    cases = _subset(amber_fixture.CASES, evaluation_type)
    # The responses of this evaluation type only (as its query file would have produced), ids kept.
    responses = [{"id": i + 1, "response": c[3]} for i, c in enumerate(cases) if c is not None]
    paths["responses"].write_text(json.dumps(responses[::-1]), encoding="utf-8")  # order does not matter
    official = _official(paths, amber_nlp, evaluation_type)
    assert sorted(official) == sorted(TYPES[evaluation_type][1])

    out = tmp_path / "scores"
    assert score.main(["--benchmark", "amber", str(paths["responses"]), "--annotations", str(paths["annotations"]),
                       "--set", f"spacy_pipeline={amber_nlp}", "--out", str(out)]) == 0
    table = pd.read_csv(out / "metrics.csv").set_index("category")
    for section, numbers in official.items():
        for name, value in numbers.items():
            assert table.loc[SECTIONS[section], NAMES[name]] == value, (section, name)
    headline = json.loads((out / "summary.json").read_text())["metrics"]
    if "Generative Task" in official and "Descriminative Task" in official:
        chair, f1 = official["Generative Task"]["CHAIR"], official["Descriminative Task"]["F1"]
        assert headline["amber_score"] == pytest.approx(100 * 0.5 * (1 - chair / 100 + f1 / 100))
        assert headline["amber_chair"] == chair and headline["amber_f1"] == f1
    else:
        assert "amber_score" not in headline  # needs both kinds of item


def test_fixture_reaches_every_branch_of_the_caption_scorer(tmp_path, nltk_data, amber_nlp):
    """The parity above is only as good as its cases: each quirk must change a number here."""
    vocab = A.Vocabulary.read(DATA_DIR / "relation.json", DATA_DIR / "safe_words.txt")
    count = A.caption_counter(vocab, str(amber_nlp), 0.8)
    by_case = [count(c[3], c[1], c[2]) for c in amber_fixture.CASES if c[0] == "generative"]
    first, second, third, fourth, empty, upper = by_case
    assert first["objects"] == ["car", "door", "tree", "dog"] and first["hallucinated"] == ["dog"]
    assert (first["safe_cover_score"], first["hallu_cover_score"]) == (2, 1)  # door is car's associate
    assert "light" in second["objects"] and second["hallucinated"] == ["bench"]  # a safe word; chair's associate
    # "cat" is a hallucination target (marked: Cog) yet a similar truth word ("dog") clears it: the
    # official branch has no `continue` after the exact match.
    assert third["hallu_cover_score"] == 1 and third["hallucinated"] == [] and third["objects"] == ["cat", "dog"]
    assert fourth["hallucinated"] == ["cow"] and fourth["hallu_cover_score"] == 2  # cow exact, cow ~ horse
    assert empty["chair_num"] == 0 and empty["non_hallu_score"] == 1
    assert "Car" not in upper["objects"] and "car" not in upper["objects"]  # not lower-cased: "Car" is no object
    # window (car's associate) covers car; truck ~ bus marks a target (Cog), then truck ~ car clears it
    assert upper["safe_cover_score"] == 1 and upper["hallu_cover_score"] == 1 and upper["hallucinated"] == []


@pytest.mark.parametrize("text, parsed", [("Yes", "yes"), ("No", "no"), (" Yes", "other"), ("yes", "other"),
                                          ("No.", "other"), ("NO", "other"), ("Yes, there is.", "other"), ("", "other")])
def test_the_official_rule_accepts_exactly_yes_and_no(text, parsed):
    assert exact_yes_no(text) == parsed


@pytest.mark.shared_data
def test_start_counters_are_the_official_metrics_txt():
    if not METRICS_TXT.is_file():
        pytest.skip("AMBER reference data (metrics.txt) not present")
    official = {}
    for line in METRICS_TXT.read_text().splitlines():
        name, value = line.split("=")
        official[name.strip()] = float(value)
    assert A.initial_counters() == official


def test_one_of_one_reads_as_the_official_99_9_and_f1_uses_the_rounded_parts():
    counters = A.initial_counters()
    A.tally_answer(counters, "discriminative-hallucination", "no", "No")
    scores = A.answer_scores(counters, ("ha_",), 0.001)
    assert scores == {"accuracy": 99.9, "precision": 99.9, "recall": 99.9,
                      "f1": round(2 * 0.999 * 0.999 / (0.999 + 0.999 + 0.001) * 100, 1)}


def test_missing_spacy_pipeline_names_the_download_command():
    pytest.importorskip("spacy")
    with pytest.raises(ConfigError, match="python -m spacy download en_core_web_lg"):
        A.check_spacy("en_core_web_lg" if not _installed("en_core_web_lg") else "/no/such/pipeline")


def _installed(name: str) -> bool:
    import spacy.util

    return spacy.util.is_package(name)


def test_missing_nltk_data_names_the_downloader_command(monkeypatch, tmp_path):
    nltk = pytest.importorskip("nltk")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    with pytest.raises(ConfigError, match=r"python -m nltk\.downloader punkt_tab averaged_perceptron_tagger_eng "
                                          r"wordnet"):
        A.check_nltk()


def test_an_annotation_object_outside_the_association_file_names_the_item(tmp_path, nltk_data, amber_nlp):
    cases = [("generative", ["unicorn"], ["dog"], "A dog."), ("discriminative-hallucination", "no", None, "No")]
    paths = amber_fixture.write(tmp_path, cases)
    code = score.main(["--benchmark", "amber", str(paths["responses"]), "--annotations", str(paths["annotations"]),
                       "--set", f"spacy_pipeline={amber_nlp}", "--out", str(tmp_path / "out")])
    assert code == 2


def test_unknown_setting_and_missing_annotations_fail_naming_the_fix(tmp_path, capsys):
    paths = amber_fixture.write(tmp_path)
    assert score.main(["--benchmark", "amber", str(paths["responses"]), "--annotations", str(paths["annotations"]),
                       "--set", "spacy_pipline=x"]) == 2
    assert "spacy_pipeline" in capsys.readouterr().err
    assert score.main(["--benchmark", "amber", str(paths["responses"]), "--annotations",
                       str(tmp_path / "missing.json")]) == 2
    assert "--annotations" in capsys.readouterr().err


def test_compare_gives_mcnemar_on_questions_and_bootstrap_on_captions(tmp_path, nltk_data, amber_nlp):
    from evalkit.report.compare import compare_runs
    from evalkit.report.discover import load_run

    paths = amber_fixture.write(tmp_path / "files")
    runs = []
    for name, flip in (("a", False), ("b", True)):
        responses = amber_fixture.responses()
        if flip:  # B answers every question "No" and drops the hallucinated dog from caption 1
            responses = [{"id": r["id"], "response": "No"} if amber_fixture.CASES[r["id"] - 1][0] != "generative"
                         else r for r in responses]
            responses[0]["response"] = "A car with a door parked near trees."
        file = tmp_path / f"{name}.json"
        file.write_text(json.dumps(responses))
        assert score.main(["--benchmark", "amber", str(file), "--annotations", str(paths["annotations"]),
                           "--set", f"spacy_pipeline={amber_nlp}", "--out", str(tmp_path / name)]) == 0
        runs.append(load_run(tmp_path / name))
    comparison = compare_runs(*runs, n_boot=200)
    answers = [c for c in amber_fixture.CASES if c[0] != "generative"]
    right_a = [c[3] == {"yes": "Yes", "no": "No"}[c[1]] for c in answers]
    right_b = [c[1] == "no" for c in answers]
    assert (comparison.only_a_right, comparison.only_b_right) == (
        sum(a and not b for a, b in zip(right_a, right_b)), sum(b and not a for a, b in zip(right_a, right_b)))
    assert set(comparison.flips["category"]) <= {"existence", "state", "number", "action", "relation"}
    deltas = comparison.deltas
    assert {"amber_score", "amber_f1", "amber_chair", "amber_hal", "amber_cog", "amber_cover"} <= set(deltas)
    for name in ("amber_chair", "amber_accuracy"):  # the official formulas, unrounded (F1 from unrounded P, R)
        headline_a = json.loads((tmp_path / "a" / "summary.json").read_text())["metrics"][name]
        assert abs(deltas[name].a - headline_a) <= 0.05 + 1e-9
    assert deltas["amber_chair"].delta < 0  # B dropped its hallucinated object
    assert deltas["amber_chair"].low <= deltas["amber_chair"].delta <= deltas["amber_chair"].high

    # report.html marks each run's hallucinated caption nouns, as the official scorer counts them
    from evalkit.report.__main__ import main as report_main

    assert report_main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "report"),
                        "--n-boot", "50"]) == 0
    html = (tmp_path / "report" / "report.html").read_text()
    section = html[html.index("Captions: hallucinated objects marked"):]
    marks = runs[0].benchmark.tasks[0].caption_marks(runs[0].scores.frame)
    assert marks and "dog" in marks[0].hallucinated, marks
    assert "<mark>dog</mark>" in section and "amber" in section


@pytest.mark.shared_data
@pytest.mark.slow
def test_full_annotations_rescoring_equals_official_inference_py(tmp_path, nltk_data, amber_nlp):
    """All 15,220 official annotation rows, seeded responses (exact and near-miss answers, captions
    naming truth objects and common words): every printed number equal (~3 min, the official loop)."""
    import random

    source = REPO.parent / "shared" / "data" / "amber" / "annotations.json"
    if not source.is_file():
        pytest.skip("AMBER reference data not present")
    rng = random.Random(0)
    words = ["person", "tree", "grass", "dog", "cat", "car", "sky", "cloud", "water", "table", "chair", "man",
             "woman", "road", "building", "truck", "cow", "horse"]
    responses = []
    for a in json.loads(source.read_text()):
        if a["type"] == "generative":
            named = rng.sample(a["truth"], min(2, len(a["truth"]))) + rng.sample(words, 2)
            responses.append({"id": a["id"], "response": "In the image there is a " + " and a ".join(named) + "."})
        else:
            responses.append({"id": a["id"], "response": rng.choice(["Yes", "No", "No", "Yes.", " No"])})
    paths = {"responses": tmp_path / "responses.json", "annotations": source}
    paths["responses"].write_text(json.dumps(responses))
    official = _official(paths, amber_nlp, "a")
    out = tmp_path / "scores"
    assert score.main(["--benchmark", "amber", str(paths["responses"]), "--annotations", str(source),
                       "--set", f"spacy_pipeline={amber_nlp}", "--out", str(out)]) == 0
    table = pd.read_csv(out / "metrics.csv").set_index("category")
    for section, numbers in official.items():
        for name, value in numbers.items():
            assert table.loc[SECTIONS[section], NAMES[name]] == value, (section, name)


def test_annotations_option_is_refused_by_an_import_that_takes_none(tmp_path, capsys, yesno_file):
    """--annotations / --set are handed to a benchmark's own import hook; one without such a hook says so."""
    assert score.main(["--benchmark", "yesno", str(yesno_file), "--annotations", str(tmp_path / "a.json")]) == 2
    assert "--annotations" in capsys.readouterr().err


def test_items_and_the_spacy_pipeline_is_needed_only_for_captions(tmp_path, nltk_data):
    from datasets_adapters.amber import AmberDataset

    paths = amber_fixture.write(tmp_path)
    questions = [q for q, c in zip(amber_fixture.queries(), amber_fixture.CASES) if c[0] != "generative"]
    only_questions = tmp_path / "query_discriminative.json"
    only_questions.write_text(json.dumps(questions))
    items = AmberDataset(query_file=str(only_questions), annotations=str(paths["annotations"]),
                         image_dir=str(paths["images"]), spacy_pipeline="no_such_pipeline").load()
    assert [i.category for i in items][:4] == ["existence", "existence", "existence", "state"]
    assert {i.category for i in items} == {"existence", "state", "number", "action", "relation"}
    assert items[-1].answer == "no" and items[-1].meta["type"] == "relation" and items[-1].group == "AMBER_1.jpg"
    with pytest.raises(ConfigError, match="python -m spacy download no_such_pipeline"):
        AmberDataset(query_file=str(paths["query"]), annotations=str(paths["annotations"]),
                     image_dir=str(paths["images"]), spacy_pipeline="no_such_pipeline").load()
