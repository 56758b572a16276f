"""Short-answer normalisation and VQA accuracy, as the official evaluators compute them.

Two processors exist and benchmarks differ in which one their official path uses:

- the VQA API's `vqaEval.py` (GT-Vision-Lab/VQA a013f00, `processPunctuation` + `processDigitArticle`):
  applied to the ground truths AND the prediction of a question only when its human answers differ
  (`len(set(answers)) > 1`); when all ten agree, the prediction must equal them as written. VQAv2's
  (and VizWiz's val) accuracy.
- EvalAI's `EvalAIAnswerProcessor` (LLaVA's `llava/eval/m4c_evaluator.py`, from mmf): lowercases,
  drops commas and question marks, splits "'s", then the same punctuation / digit / article /
  contraction steps (its comma rule also strips "1,,2"). LLaVA's VQAv2 and VizWiz submission files
  hold its output, and TextVQA's m4c evaluator applies it to predictions and every human answer.

Accuracy is the leave-one-out VQA accuracy both compute: for each of the human answers left out in
turn, min(#other answers equal to the prediction / 3, 1), averaged. The tables below are the
official ones (the contraction table is identical in both sources); quirks kept on purpose and
table-tested against the copies in tests/support: the period pattern `(?!<=\\d)` (a lookahead, not
the lookbehind it looks like), `re.UNICODE` passed as the substitution count (at most 32 periods
removed), "none" read as "0", the comma test made on the text before any replacement.

Sources' licences: VQA API simplified BSD (c) 2014 Aishwarya Agrawal; m4c_evaluator.py (c) Facebook,
in LLaVA (Apache-2.0).
"""

from __future__ import annotations

import re
from typing import Sequence

CONTRACTIONS = {
    'aint': "ain't", 'arent': "aren't", 'cant': "can't", 'couldve': "could've", 'couldnt': "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", 'didnt': "didn't", 'doesnt': "doesn't",
    'dont': "don't", 'hadnt': "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", 'hasnt': "hasn't",
    'havent': "haven't", 'hed': "he'd", "hed've": "he'd've", "he'dve": "he'd've", 'hes': "he's",
    'howd': "how'd", 'howll': "how'll", 'hows': "how's", "Id've": "I'd've", "I'dve": "I'd've", 'Im': "I'm",
    'Ive': "I've", 'isnt': "isn't", 'itd': "it'd", "itd've": "it'd've", "it'dve": "it'd've", 'itll': "it'll",
    "let's": "let's", 'maam': "ma'am", 'mightnt': "mightn't", "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've", 'mightve': "might've", 'mustnt': "mustn't", 'mustve': "must've",
    'neednt': "needn't", 'notve': "not've", 'oclock': "o'clock", 'oughtnt': "oughtn't", "ow's'at": "'ow's'at",
    "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", 'shant': "shan't", "shed've": "she'd've",
    "she'dve": "she'd've", "she's": "she's", 'shouldve': "should've", 'shouldnt': "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": 'somebodyd',
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've", 'somebodyll': "somebody'll",
    'somebodys': "somebody's", 'someoned': "someone'd", "someoned've": "someone'd've",
    "someone'dve": "someone'd've", 'someonell': "someone'll", 'someones': "someone's",
    'somethingd': "something'd", "somethingd've": "something'd've", "something'dve": "something'd've",
    'somethingll': "something'll", 'thats': "that's", 'thered': "there'd", "thered've": "there'd've",
    "there'dve": "there'd've", 'therere': "there're", 'theres': "there's", 'theyd': "they'd",
    "theyd've": "they'd've", "they'dve": "they'd've", 'theyll': "they'll", 'theyre': "they're",
    'theyve': "they've", 'twas': "'twas", 'wasnt': "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    'weve': "we've", 'werent': "weren't", 'whatll': "what'll", 'whatre': "what're", 'whats': "what's",
    'whatve': "what've", 'whens': "when's", 'whered': "where'd", 'wheres': "where's", 'whereve': "where've",
    'whod': "who'd", "whod've": "who'd've", "who'dve": "who'd've", 'wholl': "who'll", 'whos': "who's",
    'whove': "who've", 'whyll': "why'll", 'whyre': "why're", 'whys': "why's", 'wont': "won't",
    'wouldve': "would've", 'wouldnt': "wouldn't", "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've",
    'yall': "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll", "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", 'youd': "you'd", "youd've": "you'd've",
    "you'dve": "you'd've", 'youll': "you'll", 'youre': "you're", 'youve': "you've",}
NUMBER_MAP = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
              "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = ("a", "an", "the")
PUNCTUATION = (";", r"/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",",
               "?", "!")
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")  # sic: "(?!<=" is a lookahead in both sources
_PERIOD_COUNT = int(re.UNICODE)  # both sources pass re.UNICODE where sub() takes `count`: 32 periods at most
VQA_COMMA = re.compile(r"(\d)(\,)(\d)")  # vqaEval.py's commaStrip
EVALAI_COMMA = re.compile(r"(?<=\d)(\,)+(?=\d)")  # EvalAIAnswerProcessor.COMMA_STRIP


def process_punctuation(text: str, comma: re.Pattern = VQA_COMMA) -> str:
    """Punctuation removed (next to a space, or anywhere when the text has a digit,digit comma) or
    replaced by a space; then periods not followed by a digit removed."""
    out = text
    strip = comma.search(text) is not None
    for mark in PUNCTUATION:
        if strip or mark + " " in text or " " + mark in text:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD_STRIP.sub("", out, _PERIOD_COUNT)


def process_digit_article(text: str) -> str:
    """Lowercased words, number words as digits, articles dropped, contractions restored."""
    words = [NUMBER_MAP.get(word, word) for word in text.lower().split()]
    words = [word for word in words if word not in ARTICLES]
    return " ".join(CONTRACTIONS.get(word, word) for word in words)


def _clean(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def vqa_eval_answer(text: str) -> str:
    """An answer as vqaEval.py processes it (when the question's human answers differ)."""
    return process_digit_article(process_punctuation(_clean(text)))


def evalai_answer(text: str) -> str:
    """An answer as EvalAIAnswerProcessor returns it: what LLaVA's submission files hold."""
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    text = _clean(text)
    return process_digit_article(process_punctuation(text, EVALAI_COMMA))


def leave_one_out(prediction: str, answers: Sequence[str]) -> float:
    """Mean over each human answer left out of min(#remaining answers equal to prediction / 3, 1)."""
    accuracies = []
    for left_out in range(len(answers)):
        matching = sum(1 for i, answer in enumerate(answers) if i != left_out and answer == prediction)
        accuracies.append(min(1, float(matching) / 3))
    return float(sum(accuracies)) / len(accuracies)


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """One question's accuracy as vqaEval.py's `evaluate` computes it (before its x100 and rounding)."""
    if not answers:
        raise ValueError("VQA accuracy needs the human answers; got none")
    truths = [_clean(a) for a in answers]
    prediction = _clean(prediction)
    if len(set(truths)) > 1:  # vqaEval.py processes only questions whose answers differ
        truths = [vqa_eval_answer(a) for a in truths]
        prediction = vqa_eval_answer(prediction)
    return leave_one_out(prediction, truths)


def m4c_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """One question's accuracy as m4c's TextVQAAccuracyEvaluator computes it: every answer and the
    prediction through EvalAI's processor, then leave-one-out (it asserts ten answers)."""
    if len(answers) != 10:
        raise ValueError(f"the m4c TextVQA evaluator needs 10 human answers, got {len(answers)}")
    return leave_one_out(evalai_answer(prediction), [evalai_answer(a) for a in answers])


def gqa_prediction(text: str) -> str:
    """A prediction as LLaVA's scripts/convert_gqa_for_eval.py writes it for GQA's eval.py."""
    return text.rstrip(".").lower()
