"""Object HalBench parity: evalkit's `object_halbench` scoring against RLHF-V's own keyword
evaluation (tests/support/rlhfv/eval_gpt_obj_halbench.py, CHAIR(...).get_annotations() +
compute_chair(..., gpt_process=False), then summarize_gpt_obj_halbench_review.py's printout), both
run on the same COCO-format annotation files, question file and answer file written here, with the
same NLTK data (the minimal offline set: WordNet 3.0; this path tags nothing).

The keyword path uses neither spaCy nor GPT, so the script's imports of them are stubbed
(support.rlhfv_official): the `openai` module its gpt4_grpc.Chat calls (any call fails) and
`spacy.load("en_core_web_trf")` (the model cannot be installed offline). `jsonlines`, which the path reads the answer file with, is the real package (test extra).

The answers exercise the differences from OPERA's CHAIR: no POS tagging (verbs lemmatised as nouns),
stripped synonym entries ("motor bike"), the refined table ("coffee table", "remote control",
"brother"), every two-word synonym as a double word; and the shared rules: plurals, baby/adult
animals, passenger jet/train, bow tie, toilet seat and the "seat" drop, "wine glas"; plus an
"Assistant:" prefix, unicode, an answer naming no COCO object, an empty answer and an image asked twice."""

from __future__ import annotations

import io
import json
import runpy
import sys
from pathlib import Path

import pytest
from PIL import Image

from datasets_adapters.chair_coco_truth import ground_truth
from datasets_adapters.object_halbench import ObjectHalBenchDataset, read_questions
from datasets_adapters.object_halbench_task import PRINTED
from datasets_adapters.object_halbench_vocab import OBJHAL_VOCABULARY, SYNONYMS_REFINE
from evalkit import score as score_cli
from evalkit.errors import DatasetError
from support.objhal_files import ANSWERS, TRUTH, write_files
from support.rlhfv_official import import_official

RLHFV = Path(__file__).resolve().parents[1] / "support" / "rlhfv"


@pytest.fixture()
def official(nltk_data, monkeypatch):
    """RLHF-V's eval_gpt_obj_halbench module, imported from its folder; any GPT call fails."""
    return import_official(monkeypatch)


def official_review(module, coco: Path, questions: Path, answers: Path) -> dict:
    """What its __main__ does for one answer file: CHAIR over the file's image ids, compute_chair, save."""
    _, imids, _ = module.load_generated_captions(str(answers), org_dir=str(questions))
    evaluator = module.CHAIR(imids, str(coco), "")
    evaluator.get_annotations()
    review = evaluator.compute_chair(str(answers), -1, gpt_process=False, org_dir=str(questions))
    module.save_hallucinated_words(str(answers), review, str(answers.parent), sample_num=-1)
    return review


def test_synonym_table_is_rlhfvs_file_byte_for_byte():
    assert SYNONYMS_REFINE.encode("utf-8") == (RLHFV / "eval" / "data" / "synonyms_refine.txt").read_bytes()


def test_caption_words_and_double_words_equal_rlhfvs(official, tmp_path):
    coco, _, _ = write_files(tmp_path)
    evaluator = official.CHAIR({1}, str(coco), "")
    assert OBJHAL_VOCABULARY.double_words == evaluator.double_word_dict
    assert OBJHAL_VOCABULARY.inverse == evaluator.inverse_synonym_dict
    for text in [t for _, _, t in ANSWERS] + [c for _, caps in TRUTH.values() for c in caps]:
        words, node_words, idxs, raw = evaluator.caption_to_words(text)
        ours = OBJHAL_VOCABULARY.caption_words(text)
        assert (list(ours.words), [[w, n] for w, n in zip(ours.words, ours.nodes)], list(ours.idxs), list(ours.raw)) \
            == (words, node_words, idxs, raw), text


def test_ground_truth_equals_rlhfvs(official, tmp_path):
    coco, _, _ = write_files(tmp_path)
    evaluator = official.CHAIR(set(TRUTH), str(coco), "")
    evaluator.get_annotations()
    ours = ground_truth(coco, OBJHAL_VOCABULARY, tmp_path / "cache")
    assert {i: set(ours[i]) for i in TRUTH} == evaluator.imid_to_objects
    assert "remote" not in ours[6] and ours[7] == []


def test_rescored_answers_equal_rlhfvs_review_and_printout(official, tmp_path, capsys, monkeypatch):
    coco, questions, answers = write_files(tmp_path)
    review = official_review(official, coco, questions, answers)
    assert score_cli.main(["--benchmark", "object_halbench", str(answers), "--annotations", str(coco),
                           "--questions", str(questions), "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["metrics"]
    overall = review["overall_metrics"]
    for ours, theirs in (("objhal_response_hall", "CHAIRs_refine"), ("objhal_object_hall", "CHAIRi"),
                         ("objhal_recall", "obj_rec"), ("objhal_response_correct", "correct_rate"),
                         ("objhal_object_correct", "object_correct_rate"), ("objhal_len", "avg_word_len")):
        assert summary[ours] == pytest.approx(overall[theirs], abs=1e-12), ours
    import pandas as pd

    table = pd.read_csv(tmp_path / "out" / "metrics.csv").set_index("category").loc["all"]
    assert table["chair_s"] == pytest.approx(overall["CHAIRs"], abs=1e-12)
    assert (table["n"], table["coco_sentences"], table["coco_words"], table["gt_words"]) == \
        (overall["sentence_num"], overall["coco_sentence_num"], overall["coco_word_count"], overall["gt_word_count"])
    rows = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").open()]
    assert [r["id"] for r in rows] == [str(k) for k in range(len(ANSWERS))]
    for row, sentence in zip(rows, review["sentences"]):
        chair = row["meta"]["chair"]
        assert row["meta"]["image_id"] == sentence["image_id"]
        assert [[w, n] for w, n in chair["hallucinated"]] == [[w, n[1]] for w, n in sentence["mscoco_hallucinated_words"]]
        assert chair["mentioned"] == [n for _, n in sentence["mscoco_generated_words"]]
        assert set(chair["ground_truth"]) == set(sentence["mscoco_gt_words"])
        assert row["correct"] == (sentence["metrics"]["CHAIRs"] == 0)
    # the set covers what it claims: hallucinated and clean answers, answers naming no COCO object
    assert 0 < overall["CHAIRs_refine"] < 1 and 0 < overall["CHAIRi"] < 1 and 0 < overall["obj_rec"] < 1
    assert overall["coco_sentence_num"] < overall["sentence_num"]

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["summarize_gpt_obj_halbench_review.py", f"{tmp_path}/"])
    runpy.run_path(str(RLHFV / "summarize_gpt_obj_halbench_review.py"), run_name="__main__")
    printed = [line for line in capsys.readouterr().out.splitlines() if ":" in line]
    mine = []
    for label, column in PRINTED:
        value = table[column]
        # the script's counts are floats (num_coco_caps = 0. ...): it prints 9.0
        mine.append(f"{label:<16}: {float(value)}" if column in ("coco_sentences", "coco_words", "gt_words")
                    else f"{label:<16}: {value * (1 if column == 'len' else 100):.2f}")
    assert printed == mine


def test_rows_without_image_id_need_the_question_file(nltk_data, tmp_path, capsys):
    coco, questions, answers = write_files(tmp_path)
    assert score_cli.main(["--benchmark", "object_halbench", str(answers), "--annotations", str(coco)]) == 2
    assert "--questions" in capsys.readouterr().err
    short = tmp_path / "short.jsonl"
    short.write_text("".join(answers.read_text().splitlines(keepends=True)[:3]))
    assert score_cli.main(["--benchmark", "object_halbench", str(short), "--annotations", str(coco),
                           "--questions", str(questions)]) == 2
    assert "counts must agree" in capsys.readouterr().err


def test_question_file_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "q.jsonl"
    bad.write_text(json.dumps({"image_id": 1, "question": "Describe."}) + "\n" + json.dumps({"image_id": 2}) + "\n")
    with pytest.raises(DatasetError, match=r"q.jsonl:2: missing question"):
        read_questions(bad)
    bad.write_text(json.dumps({"image_id": "x", "question": "Describe."}) + "\n")
    with pytest.raises(DatasetError, match=r"q.jsonl:1: image_id 'x'"):
        read_questions(bad)


def test_loader_items_missing_annotations_and_corrupt_images(nltk_data, tmp_path):
    coco, questions, _ = write_files(tmp_path)
    rows = questions.read_text().splitlines()
    broken = json.loads(rows[2])
    broken["image"] = "not base64 at all!"
    rows[2] = json.dumps(broken)
    questions.write_text("\n".join(rows) + "\n")
    items = ObjectHalBenchDataset(path=str(questions), annotations=str(coco), cache_dir=str(tmp_path / "cache")).load()
    assert [i.id for i in items] == [str(k) for k in range(len(ANSWERS))]
    assert items[0].text_for_prompt == ANSWERS[0][1]  # verbatim, no suffix
    assert items[0].meta["image_id"] == 1 and items[0].answer == "dog, person"
    assert Image.open(io.BytesIO(items[0].image)).size == (8, 8)
    assert items[2].image == b""  # the runner turns it into this item's error row
    (coco / "captions_train2014.json").unlink()
    with pytest.raises(DatasetError, match="captions_train2014.json"):
        ObjectHalBenchDataset(path=str(questions), annotations=str(coco)).load()


def test_missing_nltk_data_names_the_download_without_the_tagger(nltk_data, monkeypatch, tmp_path):
    """RLHF-V's pipeline tags nothing: only punkt_tab and wordnet are asked for, before anything loads."""
    import nltk

    from datasets_adapters.object_halbench import OBJHAL
    from evalkit.scoring.chair import NltkDataError

    monkeypatch.setattr(nltk.data, "path", [])
    with pytest.raises(NltkDataError, match=r"python -m nltk\.downloader punkt_tab wordnet`"):
        ObjectHalBenchDataset(path=str(tmp_path / "none.jsonl"), annotations=str(tmp_path / "none")).load()
    with pytest.raises(NltkDataError):
        OBJHAL.check_ready()
