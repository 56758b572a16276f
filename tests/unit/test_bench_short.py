"""The short-answer bench set: questions about one image spread over the list, as a benchmark orders
them, so the runner's planner must bring them together for the feature cache and shared prefix."""

from __future__ import annotations

from evalkit.tools.bench_short import short_answer_items


def test_short_answer_set_shape():
    items = short_answer_items(12, 6)
    assert len(items) == 12 and len({i.group for i in items}) == 2
    assert [i.group for i in items[:2]] == ["short-0", "short-1"]  # spread, not grouped
    assert all(i.task == "vqa" and i.prompt_question.endswith("single word or phrase.") for i in items)
    assert all(i.meta["answers"] == [i.answer] and i.answer for i in items)
    assert len({i.id for i in short_answer_items(8, 1)}) == 8
