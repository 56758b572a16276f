"""Object HalBench parity: evalkit's `object_halbench` scoring against RLHF-V's own keyword
evaluation (tests/support/rlhfv/eval_gpt_obj_halbench.py, CHAIR(...).get_annotations() +
compute_chair(..., gpt_process=False), then summarize_gpt_obj_halbench_review.py's printout), both
run on the same COCO-format annotation files, question file and answer file written here, with the
same NLTK data (the minimal offline set: WordNet 3.0; this path tags nothing).

The keyword path uses neither spaCy nor GPT, so the script's imports of them are stubbed:
`gpt4_grpc` (RLHF-V's OpenAI client, not shipped), `spacy.load("en_core_web_trf")` (the model cannot be
installed offline) and `jsonlines` when it is not installed (a reader of one JSON object a line).

The answers exercise the differences from OPERA's CHAIR: no POS tagging (verbs lemmatised as nouns),
stripped synonym entries ("motor bike"), the refined table ("coffee table", "remote control",
"brother"), every two-word synonym as a double word; and the shared rules: plurals, baby/adult
animals, passenger jet/train, bow tie, toilet seat and the "seat" drop, "wine glas"; plus an
"Assistant:" prefix, unicode, an answer naming no COCO object, an empty answer and an image asked twice."""

from __future__ import annotations

import base64
import io
import json
import runpy
import ssl
import sys
import types
from pathlib import Path

import pytest
from PIL import Image

from datasets_adapters.chair_coco_truth import ground_truth
from datasets_adapters.object_halbench import ObjectHalBenchDataset, read_questions
from datasets_adapters.object_halbench_task import PRINTED
from datasets_adapters.object_halbench_vocab import OBJHAL_VOCABULARY, SYNONYMS_REFINE
from evalkit import score as score_cli
from evalkit.errors import DatasetError
from support.coco_files import write_coco

RLHFV = Path(__file__).resolve().parents[1] / "support" / "rlhfv"

# image id -> (instance category ids of support.coco_files.CATEGORIES, reference captions)
TRUTH = {
    1: ([18, 1], ["A man walks two dogs along the street.", "Dogs and their owner."]),
    2: ([16, 22], ["A baby bird sits on an elephant.", "An adult elephant."]),
    3: ([5, 4], ["Two passenger jets fly over a motor bike."]),
    4: ([70], ["The seat of the toilet is up.", "A white toilet seat."]),
    5: ([32, 1, 46], ["A man wearing a bow tie with a wine glass."]),
    6: ([67], ["A coffee table in a living room."]),
    7: ([], ["An empty street at night."]),
    8: ([7, 6], ["A passenger train next to the buses."]),
    9: ([88, 72], ["A teddy bear in front of a television."]),
}
# (image id, prompt, answer text) in RLHF-V's answer-file order
ANSWERS = [
    (1, "Describe this image in detail.", "Assistant: A man and a woman walking their dogs past a parked bicycle and a cat."),
    (2, "What is in the image?", "A baby elephant next to an adult elephant, and a baby bird; the birds are flying."),
    (3, "Describe the image.", "Passenger jets and a passenger train; the airplanes are parked near motor bikes."),
    (4, "Describe the image.", "The toilet seat is up and a chair stands near the toilet; there is a seat in the corner."),
    (5, "Describe it.", "A gentleman in a bow tie holds a wine glas, with his brother drinking from wine glasses."),
    (6, "Describe it.", "A coffee table with a remote control, a remote and a laptop computer on it."),
    (7, "What do you see?", "An empty street at night with no one around."),
    (8, "Describe the scene.", "Two buses, three trains and a truck on the train track near the home plate."),
    (9, "Describe the scene.", "Un café où un ours en peluche — a teddy bear 🧸 — sits beside a TV… Ünïcode dogs."),
    (1, "Is there anything else?", "Assistant:"),
    (2, "Describe.", "Elephants: an elephant Assistant: with birds, giraffes and zebras, and one cow."),
]


@pytest.fixture(autouse=True)
def own_ground_truth_cache(tmp_path, monkeypatch):
    """The ground-truth cache (chair_coco_truth's default folder) goes to this test's folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def _jpeg(color) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, format="JPEG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """COCO annotations, the question file (obj_halbench_300_with_image.jsonl's layout) and an answer
    file as RLHF-V's muffin_vqa writes it (question_id, prompt, text; no image_id)."""
    coco = write_coco(tmp_path / "coco", TRUTH)
    questions = tmp_path / "obj_halbench_300_with_image.jsonl"
    questions.write_text("".join(json.dumps({"image_id": i, "question": q, "image": _jpeg((20 * k, 0, 0))}) + "\n"
                                 for k, (i, q, _) in enumerate(ANSWERS)))
    answers = tmp_path / "model" / "x" / "step-1" / "obj_halbench_answer.jsonl"
    answers.parent.mkdir(parents=True)
    answers.write_text("".join(json.dumps({"question_id": k, "prompt": q, "text": t, "model_id": "m"}) + "\n"
                               for k, (_, q, t) in enumerate(ANSWERS)))
    return coco, questions, answers


@pytest.fixture()
def official(nltk_data, monkeypatch):
    """RLHF-V's eval_gpt_obj_halbench module, imported from its folder with the unused imports stubbed."""
    import spacy

    chat = types.ModuleType("gpt4_grpc")

    class Chat:  # the GPT path is not under test: any call fails
        def __init__(self, **kwargs):
            pass

        def chat_completion(self, **kwargs):
            raise AssertionError("the keyword path must not call GPT")

    chat.Chat = Chat
    monkeypatch.setitem(sys.modules, "gpt4_grpc", chat)
    monkeypatch.setattr(spacy, "load", lambda name: None)
    try:
        import jsonlines  # noqa: F401
    except ImportError:
        stub = types.ModuleType("jsonlines")
        stub.Reader = lambda f: (json.loads(line) for line in f if line.strip())
        monkeypatch.setitem(sys.modules, "jsonlines", stub)
    monkeypatch.chdir(RLHFV)  # it opens ./eval/data/synonyms_refine.txt
    monkeypatch.syspath_prepend(str(RLHFV))
    monkeypatch.delitem(sys.modules, "eval_gpt_obj_halbench", raising=False)
    context = ssl._create_default_https_context  # the script turns certificate checks off at import
    try:
        import eval_gpt_obj_halbench as module
    finally:
        ssl._create_default_https_context = context
    return module


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
