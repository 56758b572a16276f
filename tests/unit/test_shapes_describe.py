"""The shapes describe task: opt-in caption items that leave the 480 yes/no items untouched, its
synonym table through the CHAIR engine, the caption length the task asks for, and the stop
before any model loads when NLTK data is missing."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from datasets_adapters.shapes import ShapesDataset
from datasets_adapters.shapes_describe import DESCRIBE, SHAPES_VOCABULARY
from datasets_adapters.shapes_scene import CLASSES, caption, sample_scene
from evalkit.generation import resolve_max_new_tokens
from evalkit.scoring.chair import NltkDataError, chair_totals, score_caption
from evalkit.tasks.caption import answer_objects


def test_describe_is_opt_in_and_leaves_the_yes_no_items_unchanged():
    default = ShapesDataset().load()
    assert len(default) == 480 and {i.task for i in default} == {"mme", "pope"}
    both = ShapesDataset(tasks=["mme", "pope", "describe"]).load()
    yes_no = [i for i in both if i.task != "describe"]
    assert [(i.id, i.question, i.answer, i.meta) for i in yes_no] == [(i.id, i.question, i.answer, i.meta) for i in default]
    described = [i for i in both if i.task == "describe"]
    assert len(described) == 24 and described[0].id == "describe-eval0000"
    scenes = ShapesDataset().scenes()
    for item, scene in zip(described, scenes):
        assert answer_objects(item.answer) == sorted(scene.classes)
        assert item.prompt_question == "Please describe this image in detail."  # no short-answer suffix


def test_reference_captions_score_perfectly_and_synonyms_count(nltk_data):
    scenes = [sample_scene(f"shapes/v2/eval/1000003/{i}") for i in range(12)]
    perfect = [score_caption(SHAPES_VOCABULARY, caption(s), s.classes) for s in scenes]
    assert chair_totals(perfect)["chair_s"] == 0 and chair_totals(perfect)["recall"] == 1.0
    for s, score in zip(scenes, perfect):  # each class once, in CLASSES order (what the tiny models learn)
        assert list(score.mentioned) == [c for c in CLASSES if c in s.classes], caption(s)
    assert caption(scenes[0]).startswith("The image shows ") and caption(scenes[0]).endswith(".")
    gt = {"purple circle", "red cross"}
    score = score_caption(SHAPES_VOCABULARY, "Two violet discs, red crosses, a blue star and a square.", gt)
    assert score.mentioned == ("purple circle", "red cross", "blue star")  # "a square" names no colour: no mention
    assert score.hallucinated == (("blue star", "blue star"),) and score.recalled == ("purple circle", "red cross")


def _decoding(max_new_tokens):
    return OmegaConf.create({"decoding": {"_target_": "evalkit.decoding.greedy.Greedy", "name": "greedy",
                                          "max_new_tokens": max_new_tokens, "num_beams": 1}})


def test_caption_tasks_ask_for_512_tokens_unless_the_user_sets_it():
    both = ShapesDataset(n_images=1, tasks=["mme", "describe"]).load()
    yes_no = [i for i in both if i.task == "mme"]
    cfg = _decoding(None)
    assert resolve_max_new_tokens(cfg, ShapesDataset, both) == {"max_new_tokens": 512,
                                                              "set_by": "the benchmark's task(s) describe"}
    assert cfg.decoding.max_new_tokens == 512
    cfg = _decoding(None)
    assert resolve_max_new_tokens(cfg, ShapesDataset, yes_no)["max_new_tokens"] == 128 == cfg.decoding.max_new_tokens
    cfg = _decoding(64)
    assert resolve_max_new_tokens(cfg, ShapesDataset, both) == {"max_new_tokens": 64, "set_by": "decoding.max_new_tokens"}
    assert resolve_max_new_tokens(OmegaConf.create({"decoding": {"name": "yesno_logits"}}), ShapesDataset, both) is None


def test_missing_nltk_data_stops_before_any_model_loads(nltk_data, monkeypatch):
    import nltk

    from evalkit import items

    monkeypatch.setattr(nltk.data, "path", [])
    cfg = OmegaConf.create({"_target_": "datasets_adapters.shapes.ShapesDataset", "name": "shapes", "n_images": 1,
                            "tasks": ["describe"]})
    with pytest.raises(NltkDataError, match=r"python -m nltk\.downloader punkt_tab averaged_perceptron_tagger_eng "
                                            r"wordnet"):
        items.load_items(cfg, None)
    yes_no = OmegaConf.create({"_target_": "datasets_adapters.shapes.ShapesDataset", "name": "shapes", "n_images": 1})
    assert items.load_items(yes_no, None)  # yes/no runs never need NLTK
    with pytest.raises(NltkDataError):
        DESCRIBE.check_ready()
