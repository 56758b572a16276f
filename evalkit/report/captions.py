"""report.html's caption section: for runs with caption (CHAIR) tasks, a few captions with their
hallucinated objects marked (and the ground truth beside them), the most hallucinating first.

CHAIR finds objects after lemmatising and merging two-word phrases, so the marks are placed by
matching each hallucinated word (and its plural) in the caption text: a display aid; the counts
are CHAIR's own."""

from __future__ import annotations

import re
from html import escape
from typing import Sequence

from evalkit.report.discover import Run
from evalkit.scoring.chair_task import ChairTask

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
        caption_tasks = [t for t in run.benchmark.tasks if isinstance(t, ChairTask)]
        frame = run.scores.frame if caption_tasks else None
        for task in caption_tasks:
            rows = frame[(frame["task"] == task.name) & frame["chair_score"].notna()] if "chair_score" in frame else []
            if not len(rows):
                continue
            ranked = sorted(rows.to_dict("records"), key=lambda r: (-len(r["chair_score"].hallucinated), str(r["id"])))
            items = []
            for r in ranked[:SHOWN]:
                score = r["chair_score"]
                words = [w for w, _ in score.hallucinated]
                items.append(f"<li><b>{escape(str(r['id']))}</b>: {mark(str(r['text']), words)}"
                             f'<br><span class="note">hallucinated: {escape(", ".join(words) or "none")}; '
                             f'ground truth: {escape(", ".join(score.ground_truth) or "none")}</span></li>')
            body.append(f"<h3>{escape(run.label or run.name)} · {escape(task.name)}</h3><ul>{''.join(items)}</ul>")
    if body:
        body.insert(0, "<h2>Captions: hallucinated objects marked</h2>"
                       '<p class="note">The captions with the most hallucinated objects (CHAIR: a mentioned object not '
                       "in the image's ground truth), marked where their words occur in the text.</p>")
    return body
