"""The judgments file: a torn last line (a kill mid-write) is dropped and cut before the next reply
is appended; a judge name stays bound to its request settings; the API key is never written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.judge.backends import judge_header
from evalkit.judge.config import validate_judge
from evalkit.judge.store import JudgmentError, JudgmentStore, judge_names


def header(**settings) -> dict:
    cfg = validate_judge({"kind": "openai", "model": "m", "base_url": "http://user:pw@127.0.0.1:9/v1", **settings})
    return judge_header(cfg, {"llava_bench": "abc"})


def test_a_torn_line_is_dropped_and_cut_before_appending(tmp_path: Path) -> None:
    store = JudgmentStore.open(tmp_path, header())
    store.append([{"key": "k1", "reply": "8 7"}])
    store.close()
    path = tmp_path / "judgments-m.jsonl"
    with open(path, "a") as handle:
        handle.write('{"key": "k2", "rep')  # what a SIGKILL mid-write leaves
    with pytest.warns(RuntimeWarning, match="torn last line"):
        store = JudgmentStore.open(tmp_path, header())
    assert set(store.records) == {"k1"}
    store.append([{"key": "k2", "reply": "9 9"}])
    store.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r.get("key") for r in lines[1:]] == ["k1", "k2"]


def test_a_name_is_bound_to_its_settings(tmp_path: Path) -> None:
    JudgmentStore.open(tmp_path, header()).close()
    with pytest.raises(JudgmentError, match=r"temperature: None -> 0\.7.*judge\.name"):
        JudgmentStore.open(tmp_path, header(temperature=0.7))
    JudgmentStore.open(tmp_path, header(temperature=0.7, name="warm")).close()
    assert sorted(judge_names(tmp_path)) == ["m", "warm"]


def test_the_header_names_the_host_and_never_a_key(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    JudgmentStore.open(tmp_path, header()).close()
    text = (tmp_path / "judgments-m.jsonl").read_text()
    assert "sk-secret-value" not in text
    first = json.loads(text.splitlines()[0])["header"]
    assert first["model"] == "m" and first["prompt_versions"] == {"llava_bench": "abc"} and first["created"]
    assert first["base_url_host"] == "127.0.0.1:9"  # credentials in a URL are not recorded
