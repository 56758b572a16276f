"""Text -> "yes" / "no" / "other": the yes/no answer rules every yes/no task reads answers with.

A library, named after the official scripts the rules reproduce; which rule is a task's official
one is the task's declaration (its benchmark module), not this file's. The `mme` and `pope` rules
reproduce the official scorers character for character (see shared/reference/benchmarks.md),
quirks included, because evalkit's default numbers must equal the published ones. `strict` is evalkit's own reading: it tells users how many answers the lenient
official rules had to interpret (a model that rambles can still score well under `pope`).

Input is the model output with surrounding whitespace already stripped (LLaVA strips before
saving; the official scorers do not strip, so evalkit does it once, upstream of every rule).
"""

from __future__ import annotations

from typing import Callable

YES, NO, OTHER = "yes", "no", "other"

# Trailing characters `strict` forgives: "Yes." and "No!" are clear answers, "Yes, it is" is not.
_STRICT_TRAILING = ".!,;:"


def parse_mme(text: str) -> str:
    """MME's calculation.py: exact yes/no, else look for yes, then no, in the first 4 characters."""
    lowered = text.lower()
    if lowered in (YES, NO):
        return lowered
    prefix = lowered[:4]
    if YES in prefix:  # "yesterday" -> yes: the official tool's quirk, kept on purpose
        return YES
    if NO in prefix:  # "not sure", "none", "noodles" -> no
        return NO
    return OTHER  # "I think yes", "The answer is no.", "", "Y"


def parse_pope(text: str) -> str:
    """LLaVA's eval_pope.py: first sentence, commas removed, any token No/not/no -> no, else yes.

    Case-sensitive and never "other": "NO" and "" count as yes, exactly like the official scorer.
    """
    first_sentence = text.split(".", 1)[0]
    words = first_sentence.replace(",", "").split(" ")  # single spaces, as the official split(' ')
    if "No" in words or "not" in words or "no" in words:
        return NO
    return YES


def parse_strict(text: str) -> str:
    """Exactly yes or no after lower-casing and dropping trailing punctuation; anything else other."""
    core = text.lower().rstrip(_STRICT_TRAILING + " \t\r\n")
    return core if core in (YES, NO) else OTHER


YESNO_RULES: dict[str, Callable[[str], str]] = {"mme": parse_mme, "pope": parse_pope, "strict": parse_strict}
RULES = tuple(YESNO_RULES)  # the rule names, spelled once (above)


def check_rule(rule: str) -> str:
    """Return `rule` if known; otherwise fail with the valid choices (configs and CLI call this early)."""
    if rule not in YESNO_RULES:
        raise ValueError(f"unknown parse rule {rule!r}; choose one of {RULES}")
    return rule


def parse_answer(text: str, rule: str) -> str:
    """Map a stripped model answer to "yes" / "no" / "other" under `rule` (one of RULES)."""
    parser = YESNO_RULES.get(rule)
    if parser is None:
        check_rule(rule)
    if not isinstance(text, str):  # a missing text (error row, NaN from pandas) reads as empty
        text = ""
    return parser(text)  # type: ignore[misc]

