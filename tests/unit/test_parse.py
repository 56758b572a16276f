"""Table-driven tests of the parse rules against the official scorers' behaviour (benchmarks.md)."""

from __future__ import annotations

import pytest

from datasets_adapters.mme import MME
from datasets_adapters.pope import POPE
from evalkit.scoring.parse import RULES, parse_answer
from evalkit.tasks.yesno import YESNO

# (text as stripped model output, mme rule, pope rule, strict rule)
CASES = [
    ("yes", "yes", "yes", "yes"),
    ("no", "no", "no", "no"),
    ("Yes", "yes", "yes", "yes"),
    ("No", "no", "no", "no"),
    ("YES", "yes", "yes", "yes"),
    ("NO", "no", "yes", "no"),  # POPE is case-sensitive: "NO" is not a negative token
    ("Yes.", "yes", "yes", "yes"),
    ("No.", "no", "no", "no"),
    ("No!", "no", "yes", "no"),  # POPE: the token is "No!", not "No" -> yes (official quirk)
    ("yes,", "yes", "yes", "yes"),
    ("No;", "no", "yes", "no"),
    ("Not sure", "no", "yes", "other"),  # MME: "not " contains "no"; POPE: "Not" is not a token it knows
    ("not sure", "no", "no", "other"),
    ("None", "no", "yes", "other"),
    ("Noodles", "no", "yes", "other"),
    ("Yesterday", "yes", "yes", "other"),
    ("yes and no", "yes", "no", "other"),  # POPE: the token "no" anywhere in the first sentence
    ("I think yes", "other", "yes", "other"),
    ("The answer is no.", "other", "no", "other"),
    ("", "other", "yes", "other"),  # POPE never says other: empty text counts as yes
    ("Y", "other", "yes", "other"),
    ("No, there is not.", "no", "no", "other"),
    ("There is no dog.", "other", "no", "other"),
    ("Yes, there is a dog.", "yes", "yes", "other"),
    ("Yes. No dog though.", "yes", "yes", "other"),  # POPE reads only the first sentence
    ("It is not a dog", "other", "no", "other"),
    ("No,there is", "no", "yes", "other"),  # commas deleted: "Nothere" is one token
    ("There is a dog, no cat.", "other", "no", "other"),
    ("nope", "no", "yes", "other"),
    ("yes yes", "yes", "yes", "other"),
    ("Yes!", "yes", "yes", "yes"),
    ("yes?", "yes", "yes", "other"),
]


@pytest.mark.parametrize("text,mme,pope,strict", CASES)
def test_rules(text: str, mme: str, pope: str, strict: str) -> None:
    assert parse_answer(text, "mme") == mme
    assert parse_answer(text, "pope") == pope
    assert parse_answer(text, "strict") == strict


@pytest.mark.parametrize("text", [c[0] for c in CASES] + ["maybe", "0", ". .", "No dog"])
def test_pope_never_returns_other(text: str) -> None:
    assert parse_answer(text, "pope") in ("yes", "no")


def test_non_string_text_reads_as_empty() -> None:
    assert parse_answer(None, "mme") == "other"  # type: ignore[arg-type]
    assert parse_answer(float("nan"), "pope") == "yes"  # type: ignore[arg-type]


def test_unknown_rule_lists_the_rules() -> None:
    with pytest.raises(ValueError) as info:
        parse_answer("yes", "lenient")
    for rule in RULES:
        assert rule in str(info.value)


def test_official_rule_per_task() -> None:
    assert {t.name: t.official_rule for t in (MME, POPE, YESNO)} == {"mme": "mme", "pope": "pope", "yesno": "mme"}
    for task in (MME, POPE, YESNO):
        assert set(task.rules) == set(RULES) and task.rule(None) in RULES
