"""The whole-command bench's inputs and probes: the JPEG yes/no set it writes, the lmms-eval
environment check, and the process start time the start-up is measured from."""

from __future__ import annotations

import json
import time
from collections import Counter

from datasets_adapters.yesno_files import YesNoFileDataset
from evalkit.timing import process_started_at, startup_seconds
from evalkit.tools.bench_command import lmms_eval_python, write_set


def test_sets_have_the_asked_questions_per_image(tmp_path):
    for per_image in (1, 6):
        path = write_set(tmp_path / str(per_image), 24, per_image)
        items = YesNoFileDataset(str(path)).load()  # the file the bench's commands read
        assert len(items) == 24
        per_file = Counter(item.image for item in items)
        assert set(per_file.values()) == {per_image}
        assert all((tmp_path / str(per_image) / item.meta["image_file"]).is_file() for item in items)
        answers = Counter(item.answer for item in items)
        assert answers["yes"] and answers["no"]  # both answers, or a constant model would look right
    # The same arguments give the same files (kept between runs with --data-dir).
    again = write_set(tmp_path / "again", 24, 6)
    assert again.read_text() == (tmp_path / "6" / "questions.jsonl").read_text()
    assert json.loads(again.read_text().splitlines()[0])["image"].endswith(".jpg")


def test_missing_lmms_eval_environment_is_named(monkeypatch):
    monkeypatch.delenv("LMMS_EVAL_PYTHON", raising=False)
    python, why = lmms_eval_python(None)
    assert python is None and "--lmms-python" in why
    # An interpreter without lmms-eval (this one, unless it has it) is refused with its import error.
    import importlib.util
    import sys

    python, why = lmms_eval_python(sys.executable)
    if importlib.util.find_spec("lmms_eval") is None:
        assert python is None and "does not import" in why
    else:
        assert python == sys.executable


def test_process_start_is_before_now():
    started = process_started_at()
    assert started is not None and time.time() - 24 * 3600 < started <= time.time() + 1
    assert startup_seconds(None) is None
    assert 0 <= startup_seconds(time.time()) < 24 * 3600
