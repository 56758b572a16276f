"""The short-answer normalisers and per-question accuracies against the official code itself: the VQA
API's vqaEval.py (tests/support/vqa_api, BSD) and LLaVA's m4c_evaluator.py (tests/support/llava,
from mmf), on answers chosen to hit every rule: number words, articles, contractions, punctuation
next to spaces, digit commas, periods before digits, case, "'s", empty answers, "unanswerable"."""

from __future__ import annotations

import pytest

from evalkit.scoring import vqa_answers as V
from support.llava.eval.m4c_evaluator import EvalAIAnswerProcessor, TextVQAAccuracyEvaluator
from support.vqa_api.vqaEval import VQAEval

TRICKY = [
    "Two.", "2", "two", "a dog", "dogs", "the Dog", "don't", "dont", "Yes!", "yes", "", " ", "unanswerable",
    "Unanswerable.", "none", "None of them", "1,000", "1,,000", "3.5", "3. 5", "e.g. a cat.", "A.B.C.", "(red)",
    "red / white", "red/white", "left-hand side", "it's the man's hat", "whats that?", "Coca-Cola",
    "STOP", "i'm", "Im", "ive", "ten", "10:30", "$5.00", "50%", "u.s.a.", "mcdonald's", "new york yankees",
    "yes\nno", "tab\there", "a", "an apple", "..." * 15, "#1", "@home", "c++", "x = y + 1", "a,b", "I'dve",
]


@pytest.fixture(scope="module")
def vqa_eval() -> VQAEval:
    class _Questions:  # VQAEval's constructor asks only for the question ids
        def getQuesIds(self):
            return []

    return VQAEval(_Questions(), None, n=2)


@pytest.mark.parametrize("text", TRICKY)
def test_vqa_eval_processing_equals_vqaEval(vqa_eval, text):
    official = vqa_eval.processDigitArticle(vqa_eval.processPunctuation(text.replace("\n", " ").replace("\t", " ").strip()))
    assert V.vqa_eval_answer(text) == official


@pytest.mark.parametrize("text", TRICKY)
def test_evalai_processing_equals_m4c(text):
    assert V.evalai_answer(text) == EvalAIAnswerProcessor()(text)


ANSWER_SETS = [
    ["2"] * 10,
    ["2"] * 9 + ["two"],
    ["yes"] * 7 + ["no"] * 3,
    ["a dog"] * 4 + ["dog"] * 3 + ["dogs"] * 3,
    ["unanswerable"] * 5 + ["Unanswerable."] * 2 + ["coke"] * 3,
    ["Coca-Cola"] * 2 + ["coca cola"] * 2 + ["COKE"] * 6,
    ["don't know"] * 10,
    ["dont know"] * 3 + ["don't know"] * 7,
    [""] * 2 + ["red"] * 8,
]


@pytest.mark.parametrize("answers", ANSWER_SETS)
def test_accuracies_equal_the_official_per_question_scores(answers):
    m4c = TextVQAAccuracyEvaluator()
    for text in TRICKY + answers:
        assert V.m4c_accuracy(text, answers) == m4c.eval_pred_list([{"pred_answer": text, "gt_answers": answers}])


def test_all_equal_answers_are_compared_as_written():
    # vqaEval.py processes nothing when the ten answers agree: "Two." does not match "2" there, but
    # does when one answer differs (then both sides are processed).
    assert V.vqa_accuracy("Two.", ["2"] * 10) == 0.0
    assert V.vqa_accuracy("Two.", ["2"] * 9 + ["3"]) == 1.0
    assert V.vqa_accuracy("2", ["2"] * 10) == 1.0


def test_m4c_refuses_other_than_ten_answers():
    with pytest.raises(ValueError, match="10 human answers"):
        V.m4c_accuracy("x", ["x"] * 3)
