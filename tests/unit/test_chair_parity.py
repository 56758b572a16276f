"""CHAIR parity: evalkit's engine (evalkit/scoring/chair.py + the COCO vocabulary) against OPERA's
chair.py itself (tests/support/opera_chair.py, MIT), both run on the same COCO-format annotation
files and captions written here, with the same NLTK data (the minimal offline set: NN-only tagger,
WordNet 3.0). The captions exercise synonyms, plurals, two-word phrases and every special rule:
baby/adult animals, passenger jet/train, bow tie, toilet seat (both the phrase and the "seat"
drop), "wine glas", and OPERA's quirks (" motor bike" never matches, "iPhone" never matches,
the caption-to-words index shift after the seat drop)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from support.shared_data import needs_shared

from datasets_adapters.chair_coco_truth import ground_truth
from datasets_adapters.chair_coco_vocab import COCO_VOCABULARY
from evalkit import score as score_cli
from support.coco_files import CATEGORIES, TRUTH, write_coco

CAPTIONS = [
    (1, "A man and a woman walk their dogs past a parked bicycle and a cat."),
    (2, "A baby bird and an adult bird sit on a chair near a bench."),
    (3, "Passenger jets and a passenger train; the airplanes are parked near motor bikes and a motorcycle."),
    (4, "The toilet seat is up and a chair stands near the toilet; there is a seat in the corner."),
    (4, "A toilet seat."),
    (5, "A gentleman in a bow tie holds a wine glas and an iPhone, with a cell phone and a mobile phone."),
    (6, "Two wine glasses and a wine glass stand on the dining table beside a cheesecake and a cake."),
    (7, "An empty street at night with no one around."),
    (8, "Elephants: an adult elephant with a baby elephant, and some children watching from a hot dog stand."),
    (9, "A train on the train track, with two buses, a traffic light and a stop sign."),
    (10, "A teddy bear, teddy bears, a TV, a television and a laptop computer on a desk, with knives and mice."),
    (1, ""),
]


@pytest.fixture()
def opera(nltk_data):
    from support import opera_chair

    return opera_chair


def opera_outputs(opera, coco: Path, captions: Path) -> dict:
    evaluator = opera.CHAIR(str(coco))
    return evaluator.compute_chair(str(captions), "image_id", "caption")


def test_caption_words_equal_operas(opera, tmp_path):
    evaluator = opera.CHAIR(str(write_coco(tmp_path / "coco")))
    for _, caption in CAPTIONS + [(0, c) for _, (_, caps) in TRUTH.items() for c in caps]:
        words, nodes, idxs, raw = evaluator.caption_to_words(caption)
        ours = COCO_VOCABULARY.caption_words(caption)
        assert (list(ours.words), list(ours.nodes), list(ours.idxs), list(ours.raw)) == (words, nodes, idxs, raw), caption


def test_ground_truth_equals_operas_and_is_cached(opera, tmp_path):
    coco = write_coco(tmp_path / "coco")
    evaluator = opera.CHAIR(str(coco))
    ours = ground_truth(coco, COCO_VOCABULARY, tmp_path / "cache")
    assert {i: set(v) for i, v in ours.items()} == {i: set(v) for i, v in evaluator.imid_to_objects.items()}
    assert ours[7] == []  # an image whose captions name no object still has an entry
    cached = list((tmp_path / "cache").glob("coco_truth_*.json"))
    assert len(cached) == 1
    cached[0].write_text(json.dumps({"1": ["marker"]}))  # the 2nd run reads the cache, not the files
    assert ground_truth(coco, COCO_VOCABULARY, tmp_path / "cache") == {1: ["marker"]}
    (coco / "captions_val2014.json").write_text((coco / "captions_val2014.json").read_text() + " ")
    assert ground_truth(coco, COCO_VOCABULARY, tmp_path / "cache")[1] != ["marker"]  # content changed: rebuilt


def test_rescoring_cli_equals_operas_chair(opera, tmp_path, capsys):
    coco = write_coco(tmp_path / "coco")
    captions = tmp_path / "captions.jsonl"
    captions.write_text("".join(json.dumps({"image_id": i, "caption": c}) + "\n" for i, c in CAPTIONS))
    theirs = opera_outputs(opera, coco, captions)
    # duplicate image ids (two captions of image 4, of image 1) are refused by evalkit: score them apart
    assert score_cli.main(["--benchmark", "chair_coco", str(captions), "--annotations", str(coco),
                           "--out", str(tmp_path / "out")]) == 2
    assert "duplicate id" in capsys.readouterr().err
    unique = [(i, c) for k, (i, c) in enumerate(CAPTIONS) if i not in [j for j, _ in CAPTIONS[:k]]]
    captions.write_text("".join(json.dumps({"image_id": i, "caption": c}) + "\n" for i, c in unique))
    theirs = opera_outputs(opera, coco, captions)
    assert score_cli.main(["--benchmark", "chair_coco", str(captions), "--annotations", str(coco),
                           "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["metrics"]
    overall = theirs["overall_metrics"]
    assert summary["chair_s"] == pytest.approx(overall["CHAIRs"], abs=1e-12)
    assert summary["chair_i"] == pytest.approx(overall["CHAIRi"], abs=1e-12)
    assert summary["chair_recall"] == pytest.approx(overall["Recall"], abs=1e-12)
    assert summary["chair_len"] == pytest.approx(100 * overall["Len"], abs=1e-9)  # OPERA prints Len x100
    rows = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").open()}
    for sentence in theirs["sentences"]:
        row = rows[str(sentence["image_id"])]
        chair = row["meta"]["chair"]
        assert chair["mentioned"] == sentence["mscoco_generated_words"]
        assert [tuple(h) for h in chair["hallucinated"]] == [tuple(h) for h in sentence["mscoco_hallucinated_words"]]
        assert set(chair["ground_truth"]) == set(sentence["mscoco_gt_words"])
        assert row["parsed"] == ", ".join(sentence["mscoco_generated_words"])
        metrics = sentence["metrics"]
        assert row["correct"] == (metrics["CHAIRs"] == 0)
    # the set covers what it claims to: hallucinations, synonyms, recalls and an empty caption
    assert 0 < overall["CHAIRs"] < 1 and 0 < overall["CHAIRi"] < 1 and 0 < overall["Recall"] < 1


def test_unknown_image_id_and_missing_annotations_fail_clearly(nltk_data, tmp_path, capsys):
    coco = write_coco(tmp_path / "coco")
    captions = tmp_path / "c.jsonl"
    captions.write_text(json.dumps({"image_id": 99, "caption": "A dog."}) + "\n")
    assert score_cli.main(["--benchmark", "chair_coco", str(captions), "--annotations", str(coco)]) == 2
    assert "not in the annotations" in capsys.readouterr().err
    assert score_cli.main(["--benchmark", "chair_coco", str(captions)]) == 2
    assert "--annotations" in capsys.readouterr().err
    (coco / "instances_train2014.json").unlink()
    assert score_cli.main(["--benchmark", "chair_coco", str(captions), "--annotations", str(coco)]) == 2
    assert "instances_train2014.json" in capsys.readouterr().err


OPERA_LOGS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "chair_opera_logs"


@pytest.mark.slow  # 500 long captions through NLTK twice (evalkit and OPERA): minutes on a shared CPU
@needs_shared("chair_opera_logs/llava-1.5_greedy.jsonl")
def test_operas_released_llava15_log_rescored_as_operas_chair(opera, tmp_path):
    """The real caption format (OPERA's llava-1.5 greedy log, 500 val2014 images) through the
    rescoring CLI, against a synthetic annotation set covering its ids (COCO's files are not here)."""
    log = OPERA_LOGS / "llava-1.5_greedy.jsonl"
    ids = [json.loads(line)["image_id"] for line in log.open()]
    cats = [c for c, _ in CATEGORIES]
    truth = {i: ([cats[i % len(cats)], cats[(i // 7) % len(cats)]], ["A person with a dog near a dining table."]
                 if i % 3 else ["A cat on a bench."]) for i in ids}
    coco = write_coco(tmp_path / "coco", truth)
    theirs = opera_outputs(opera, coco, log)["overall_metrics"]
    assert score_cli.main(["--benchmark", "chair_coco", str(log), "--annotations", str(coco),
                           "--out", str(tmp_path / "out")]) == 0
    ours = json.loads((tmp_path / "out" / "summary.json").read_text())["metrics"]
    assert ours["n_items"] == 500
    for key, name in (("chair_s", "CHAIRs"), ("chair_i", "CHAIRi"), ("chair_recall", "Recall")):
        assert ours[key] == pytest.approx(theirs[name], abs=1e-12)
    assert ours["chair_len"] == pytest.approx(100 * theirs["Len"], abs=1e-9)
    assert not math.isnan(ours["chair_i"]) and ours["chair_len"] > 50  # long, detailed captions went through
