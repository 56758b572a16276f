"""report.html's caption section: for runs with caption tasks (those whose `Task.caption_marks`
returns rows: CHAIR's, AMBER's generative part), a few captions with their hallucinated objects
marked (and the ground truth beside them), the most hallucinating first.

The scorers find objects after lemmatising and merging two-word phrases, so the marks are placed by
matching each hallucinated word (and its plural) in the caption text: a display aid; the counts
are CHAIR's own."""

from __future__ import annotations

import re
from html import escape
from typing import Sequence

from evalkit.report.discover import Run

SHOWN = 4  # captions per run and task


def mark(text: str, words: Sequence[str]) -> str:
    """The caption as HTML with each of `words` (singular or plural, any case) in <mark>."""
    if not words:
        return escape(text)
    alternatives = sorted({w for w in words if w}, key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(r"\s+".join(map(re.escape, w.split())) + r"(?:e?s)?" for w in alternatives)
                         + r")\b", re.IGNORECASE)
    out, last = [], 0
    for match in pattern.finditer(text):
        out += [escape(text[last: match.start()]), f"<mark>{escape(match.group(0))}</mark>"]
        last = match.end()
    return "".join(out + [escape(text[last:])])


def caption_sections(runs: Sequence[Run]) -> list[str]:
    body = []
    for run in runs:
        frame = run.scores.frame
        for task in run.benchmark.tasks:
            marks = task.caption_marks(frame[frame["task"] == task.name]) if "task" in frame else []
            if not marks:
                continue
            ranked = sorted(marks, key=lambda m: (-len(m.hallucinated), m.id))
            items = []
            for m in ranked[:SHOWN]:
                items.append(f"<li><b>{escape(m.id)}</b>: {mark(m.text, m.hallucinated)}"
                             f'<br><span class="note">hallucinated: {escape(", ".join(m.hallucinated) or "none")}; '
                             f'ground truth: {escape(", ".join(m.ground_truth) or "none")}</span></li>')
            body.append(f"<h3>{escape(run.label or run.name)} · {escape(task.name)}</h3><ul>{''.join(items)}</ul>")
    if body:
        body.insert(0, "<h2>Captions: hallucinated objects marked</h2>"
                       '<p class="note">The captions with the most hallucinated objects (a mentioned object not in '
                       "the image's ground truth, as the task's official script counts it), marked where their words "
                       "occur in the text.</p>")
    return body
