"""MMMU's answer parsing and scoring, as `mmmu/utils/eval_utils.py` (MMMU-Benchmark/MMMU bb0b95a)
does it, and the per-subject / per-discipline / overall table of `main_parse_and_eval.py` +
`print_results.py` (pure functions; tests/integration/test_mmmu_parity.py runs the official scripts).

Multiple choice (`parse_multi_choice_response`): punctuation stripped from the ends (one mark at
a time, in the official order), then the letters written "(A)", else letters standing alone
(" A "), else, for a response of more than five words, the options' texts; several candidates:
the one found last; none: a random letter from Python's `random` seeded with 42 when the module
is imported. That seed is drawn once per process and consumed in the order the official script
meets unreadable answers (subjects in CAT_SHORT2LONG order, questions in file order), so the
fallback is reproduced by `MultiChoiceParser` walking the questions in that same order.
Open questions (`parse_open_response` / `eval_open`): the key sub-responses and the numbers in
them, normalised (numbers rounded to 2 decimals; one-letter strings padded so "a" is not found
inside every word); correct when a normalised gold string is inside a predicted string or a gold
number equals a predicted one.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence, Union

import pandas as pd

SEED = 42  # eval_utils.py: random.seed(42) at import
_END_MARKS = (",", ".", "!", "?", ";", ":", "'")  # stripped one after the other, in this order
_KEY_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_TRIVIAL = (":", ",", ".", "!", "?", ";", ":", "'")

# mmmu/utils/data_utils.py: subjects in the order main_parse_and_eval.py walks them (--subject ALL)
SUBJECTS = ("Accounting", "Agriculture", "Architecture_and_Engineering", "Art", "Art_Theory",
            "Basic_Medical_Science", "Biology", "Chemistry", "Clinical_Medicine", "Computer_Science", "Design",
            "Diagnostics_and_Laboratory_Medicine", "Economics", "Electronics", "Energy_and_Power", "Finance",
            "Geography", "History", "Literature", "Manage", "Marketing", "Materials", "Math",
            "Mechanical_Engineering", "Music", "Pharmacy", "Physics", "Psychology", "Public_Health", "Sociology")
DISCIPLINES = {
    "Art and Design": ("Art", "Art_Theory", "Design", "Music"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Health and Medicine": ("Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine",
                            "Pharmacy", "Public_Health"),
    "Humanities and Social Science": ("History", "Literature", "Sociology", "Psychology"),
    "Tech and Engineering": ("Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics",
                             "Energy_and_Power", "Materials", "Mechanical_Engineering"),
}
OVERALL = "Overall"
MULTIPLE_CHOICE = "multiple-choice"

Gold = Union[str, Sequence[str]]


def subject_of(question_id: str) -> str:
    """validation_Art_Theory_12 -> Art_Theory (main_eval_only.py's rule)."""
    return "_".join(str(question_id).split("_")[1:-1])


def official_order(question_id: str) -> tuple[int, int, str]:
    """Where the official scripts meet a question: its subject's place, then its number."""
    subject = subject_of(question_id)
    number = str(question_id).rsplit("_", 1)[-1]
    return (SUBJECTS.index(subject) if subject in SUBJECTS else len(SUBJECTS),
            int(number) if number.isdigit() else 0, str(question_id))


# ------------------------------------------------------------------------------- multiple choice

def _strip_end_marks(response: str) -> str:
    for mark in _END_MARKS:
        response = response.strip(mark)
    return response


def choice_candidates(response: str, letters: Sequence[str], options: Mapping[str, str]) -> tuple[list[str], str]:
    """The letters a response may mean and how they were found: "bracket", "letter" or "text"
    (what parse_multi_choice_response looks for, in its order); ([], "") when nothing is found."""
    padded = " " + _strip_end_marks(response) + " "  # spaces so " A " also matches at the ends
    found = [c for c in letters if f"({c})" in padded]
    if found:
        return found, "bracket"
    found = [c for c in letters if f" {c} " in padded]
    if found:
        return found, "letter"
    if len(padded.split()) > 5:
        found = [k for k, text in options.items() if text.lower() in padded.lower()]
        if found:
            return found, "text"
    return [], ""


def _last_found(padded: str, candidates: list[str], how: str, options: Mapping[str, str]) -> str:
    """Of several candidates, the one whose mark starts last (the first of equals, as np.argmax)."""
    if how == "bracket":
        starts = [padded.rfind(f"({c})") for c in candidates]
    elif how == "letter":
        starts = [padded.rfind(f" {c} ") for c in candidates]
    else:
        starts = [padded.lower().rfind(options[c].lower()) for c in candidates]
    return candidates[starts.index(max(starts))]


@dataclass
class MultiChoiceParser:
    """parse_multi_choice_response with its seeded random fallback: one instance walks a run's
    questions in the official order (`official_order`), as one official process does."""

    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    n_random: int = 0

    def __call__(self, response: str, letters: Sequence[str], options: Mapping[str, str]) -> str:
        candidates, how = choice_candidates(response, letters, options)
        if not candidates:
            self.n_random += 1
            return self.rng.choice(list(letters))
        if len(candidates) == 1:
            return candidates[0]
        return _last_found(" " + _strip_end_marks(response) + " ", candidates, how, options)


# ---------------------------------------------------------------------------------- open answers

def is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return False


def normalize(text: str) -> list[Union[str, float]]:
    """normalize_str: a number -> [rounded float]; a string -> [lowercase] (one letter: padded both ways)."""
    text = text.strip()
    if is_number(text):
        return [round(float(text.replace(",", "")), 2)]
    text = text.lower()
    return [" " + text, text + " "] if len(text) == 1 else [text]


_NUMBER_WITH_COMMAS = r"-?\b\d{1,3}(?:,\d{3})+\b"
_NUMBER_SCIENTIFIC = r"-?\d+(?:\.\d+)?[eE][+-]?\d+"
_NUMBER_SIMPLE = r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])"


def numbers_in(text: str) -> list[str]:
    """extract_numbers: numbers with thousands commas, then scientific, then simple ones."""
    return [*re.findall(_NUMBER_WITH_COMMAS, text), *re.findall(_NUMBER_SCIENTIFIC, text),
            *re.findall(_NUMBER_SIMPLE, text)]


def key_subresponses(response: str) -> list[str]:
    """The tail after the last answer indicator ("is ", "so ", "answer ", ... "=" in the last
    sentence) of each sentence that has one; the whole (lowercased) response when none has."""
    response = response.strip().strip(".").lower()
    sentences = re.split(r"\.\s(?=[A-Z])|\n", response)
    keys = []
    for index, sentence in enumerate(sentences):
        indicators = _KEY_INDICATORS + (("=",) if index == len(sentences) - 1 else ())
        shortest = None
        for indicator in indicators:
            if indicator in sentence:
                tail = sentence.split(indicator)[-1].strip()
                if not shortest or len(tail) < len(shortest):
                    shortest = tail
        if shortest and shortest.strip() not in _TRIVIAL:
            keys.append(shortest)
    return keys or [response]


def parse_open(response: str) -> list[Union[str, float]]:
    """parse_open_response: normalised key sub-responses and the numbers in them, without repeats."""
    keys = key_subresponses(response)
    candidates = keys + [n for key in keys for n in numbers_in(key)]
    normalised = [value for c in candidates for value in normalize(c)]
    return list(dict.fromkeys(normalised))  # the official set(), in a stable order


def open_correct(gold: Gold, predictions: Sequence[Union[str, float]]) -> bool:
    """eval_open: a gold string inside a predicted string, or a gold number among the predicted ones."""
    golds = [v for g in gold for v in normalize(g)] if isinstance(gold, (list, tuple)) else normalize(gold)
    for prediction in predictions:
        if isinstance(prediction, str):
            if any(isinstance(g, str) and g in prediction for g in golds):
                return True
        elif prediction in golds:
            return True
    return False


def choice_correct(gold: Gold, parsed: str) -> bool:
    """eval_multi_choice: the parsed letter equals the gold (or one of the golds)."""
    return parsed in gold if isinstance(gold, (list, tuple)) else parsed == gold


# ---------------------------------------------------------------------------------------- tables

def mmmu_table(rows: pd.DataFrame) -> pd.DataFrame:
    """print_results.py's table: per discipline ("Overall-<discipline>") then its subjects (in
    DISCIPLINES order, only those present), then "Overall"; accuracy = correct / questions
    (main_parse_and_eval's per-subject `acc`; the overall rows are the instance-level mean).

    `rows`: one per question with `subject` and `correct` (bool).
    """
    per_subject = rows.groupby("subject")["correct"].agg(["size", "sum"])
    table = []
    for discipline, subjects in DISCIPLINES.items():
        present = [s for s in subjects if s in per_subject.index]
        n = int(per_subject.loc[present, "size"].sum()) if present else 0
        n_correct = int(per_subject.loc[present, "sum"].sum()) if present else 0
        table.append({"category": f"{OVERALL}-{discipline}", "n": n, "n_correct": n_correct,
                      "accuracy": n_correct / n if n else 0.0})
        table += [{"category": s, "n": int(per_subject.loc[s, "size"]), "n_correct": int(per_subject.loc[s, "sum"]),
                   "accuracy": int(per_subject.loc[s, "sum"]) / int(per_subject.loc[s, "size"])} for s in present]
    n, n_correct = len(rows), int(rows["correct"].sum())
    table.append({"category": OVERALL, "n": n, "n_correct": n_correct, "accuracy": n_correct / n if n else 0.0})
    return pd.DataFrame(table)
