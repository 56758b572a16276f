"""MMBench's LLM choice extraction (`judge=...`) against VLMEvalKit's own code at e8e78f05
(tests/support/vlmevalkit/mmbench_eval.py, Apache-2.0: build_prompt / build_prompt_cn,
extract_answer_from_item, eval_circular_group, mcq_circular_eval, mcq_vanilla_eval, report_acc).

On an MMBench TSV in the official format (English and Chinese questions, circular copies, answers
can_infer cannot read) and one script of judge replies per matching prompt:
(a) every request evalkit's judge stage sends is the prompt VLMEvalKit builds for that answer, as
    many times as VLMEvalKit asks it (re-asks, an API-failure reply, the fallback after three);
(b) evalkit's CircularEval and vanilla tables (overall, l2-category, category) equal report_acc
    over VLMEvalKit's mcq_circular_eval / mcq_vanilla_eval run with a judge object
    (`model.generate(prompt)`) giving the same replies. VLMEvalKit's fallback is
    `rd.choice(options + ["Z"])` on Python's unseeded global random: the test hands it evalkit's
    seeded pick for the same item (checking it is offered the same letters), the one documented
    difference.
The judge here is a scripted backend object (no server, no process): the wire format is the
integration test's (tests/integration/test_mmbench_llm_server.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from datasets_adapters import mmbench_llm as LLM
from datasets_adapters.mmbench import MMBenchDataset
from evalkit.judge.config import validate_judge
from evalkit.judge.stage import judge_run, record_judge
from evalkit.score import rescore_run
from evalkit.serving.openai_client import ChatReply
from support.judge_runs import write_run
from support.mmbench_llm_script import ScriptedJudge, answers, official_prompt, reply_script, table
from support.vlmevalkit import mmbench_eval as V

TARGET = "datasets_adapters.mmbench.MMBenchDataset"


class ScriptedBackend:
    """evalkit's judge backend interface (complete_many), answering from the same script."""

    def __init__(self, script: dict[str, list[str]]):
        self.script, self.bodies = script, []

    def complete_many(self, requests):
        for i, request in enumerate(requests):
            body = request.body()
            prompt = body["messages"][0]["content"]
            self.bodies.append(body)
            asked = sum(1 for b in self.bodies if b["messages"][0]["content"] == prompt)
            yield i, ChatReply(text=self.script[prompt][asked - 1], model="gpt-4o-mini-2024-07-18",
                               prompt_tokens=len(prompt) // 4, completion_tokens=1)


class Refuses:
    def complete_many(self, requests):
        raise AssertionError(f"the judge was called for {len(requests)} request(s): they are cached")


def judged_run(tmp_path: Path, rows: pd.DataFrame, preds: list[str], backend) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    tsv = tmp_path / "MMBench_DEV_EN.tsv"
    rows.to_csv(tsv, sep="\t", index=False)
    items = MMBenchDataset(path=str(tsv)).load()
    run_dir = write_run(tmp_path / "run", TARGET, items, dict(zip(rows["index"].astype(str), preds)),
                        name="mmbench", path=str(tsv))
    cfg = validate_judge({"kind": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1"})
    record_judge(run_dir, judge_run(run_dir, cfg, backend=backend))
    return run_dir


@pytest.fixture
def case():
    rows = table()
    preds = answers(rows)
    return rows, preds, reply_script(rows, preds)


@pytest.fixture
def evalkit_pick_in_vlmevalkit(monkeypatch):
    """VLMEvalKit's extract_answer_from_item with its `rd.choice` answered by evalkit's pick for
    the item being extracted; records the letters VLMEvalKit offered."""
    current, offered = {}, []
    original = V.extract_answer_from_item

    def traced(model, item, dataset_name=None):
        current["item"] = item
        return original(model, item, dataset_name)

    class Pick:
        def choice(self, options):
            item = current["item"]
            offered.append((int(item["index"]), list(options)))
            return LLM.fallback_letter(str(int(item["index"])), options[:-1])

    monkeypatch.setattr(V, "extract_answer_from_item", traced)
    monkeypatch.setattr(V, "rd", Pick())
    return offered


def official_tables(rows: pd.DataFrame, preds: list[str], script, tmp_path: Path) -> tuple[dict, dict, ScriptedJudge]:
    data = rows.drop(columns=["answer"]).assign(prediction=preds)
    judge = ScriptedJudge(script)
    circular = V.mcq_circular_eval(judge, data.copy(), rows, 1, str(tmp_path / "circ.pkl"), "MMBench_DEV_EN")
    first = data[data["index"] < 1_000_000]
    vanilla = V.mcq_vanilla_eval(ScriptedJudge(script), first.copy(), rows, 1, str(tmp_path / "van.pkl"),
                                 "MMBench_DEV_EN")
    return as_dict(V.report_acc(circular)), as_dict(V.report_acc(vanilla)), judge


def as_dict(acc: pd.DataFrame) -> dict:
    return {k: float(v) for k, v in acc.iloc[0].items() if k != "split"}


def test_requests_are_vlmevalkits_prompts_asked_as_often(case, tmp_path, evalkit_pick_in_vlmevalkit):
    rows, preds, script = case
    backend = ScriptedBackend(script)
    judged_run(tmp_path, rows, preds, backend)
    assert backend.bodies, "nothing was sent"
    assert {b["temperature"] for b in backend.bodies} == {0.0} and {b["max_tokens"] for b in backend.bodies} == {2048}
    assert {b["model"] for b in backend.bodies} == {"gpt-4o-mini"}
    sent = pd.Series([b["messages"][0]["content"] for b in backend.bodies]).value_counts().to_dict()
    by_prompt = {official_prompt(r, p): (r, p) for r, p in zip(rows.to_dict("records"), preds)}
    for prompt, times in sent.items():
        row, pred = by_prompt[prompt]  # a KeyError here: a request that is no VLMEvalKit prompt
        judge = ScriptedJudge(script)
        V.extract_answer_from_item(judge, pd.Series({**row, "prediction": pred}), "MMBench_DEV_EN")
        assert judge.prompts == [prompt] * times, row["index"]
    assert any("你是一个帮助我匹配答案" in p for p in sent) and any(p.startswith("You are an AI") for p in sent)
    assert {1, 2, 3} <= set(sent.values())
    # every answer VLMEvalKit's own evaluation asks about is asked
    _, _, official_judge = official_tables(rows, preds, script, tmp_path)
    assert set(official_judge.prompts) <= set(sent)


def test_circular_and_vanilla_equal_vlmevalkit_with_the_same_replies(case, tmp_path, evalkit_pick_in_vlmevalkit):
    rows, preds, script = case
    run_dir = judged_run(tmp_path, rows, preds, ScriptedBackend(script))
    circular, vanilla, _ = official_tables(rows, preds, script, tmp_path)
    _, scores = rescore_run(run_dir, None)
    table = scores.tables["mmbench"].set_index("category")
    assert table["circular_accuracy"].to_dict() == pytest.approx(circular)
    assert table["vanilla_accuracy"].to_dict() == pytest.approx(vanilla)
    head = scores.headline
    assert head["mmbench_extraction"].startswith("gpt-4o-mini (VLMEvalKit's LLM choice extraction")
    assert head["mmbench_llm_decided"] > 0 and head["mmbench_fallback_decided"] > 0
    # VLMEvalKit fell back on items evalkit also fell back on, offered the same letters plus Z
    frame = scores.frame.set_index("id")
    assert evalkit_pick_in_vlmevalkit
    for index, offered in evalkit_pick_in_vlmevalkit:
        assert frame.loc[str(index), "by"] == "fallback"
        assert offered == [*frame.loc[str(index), "meta"]["options"], "Z"]
    # the judge changed the numbers: exact matching alone gives less
    exact = V.report_acc(V.mcq_circular_eval(None, rows.drop(columns=["answer"]).assign(prediction=preds), rows, 1,
                                             str(tmp_path / "exact.pkl"), "MMBench_DEV_EN"))
    assert as_dict(exact)["Overall"] < head["mmbench_circular_accuracy"]


def test_rescoring_and_rerunning_never_call_the_judge(case, tmp_path):
    rows, preds, script = case
    run_dir = judged_run(tmp_path, rows, preds, ScriptedBackend(script))
    first = rescore_run(run_dir, None)[1].headline
    cfg = validate_judge({"kind": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1"})
    judge_run(run_dir, cfg, backend=Refuses())  # everything cached: nothing sent
    again = rescore_run(run_dir, None)[1].headline
    assert again["mmbench_circular_accuracy"] == first["mmbench_circular_accuracy"]
    assert again["mmbench_fallback_decided"] == first["mmbench_fallback_decided"]


def test_a_partly_judged_run_gives_no_number_and_resumes(case, tmp_path):
    rows, preds, script = case
    run_dir = judged_run(tmp_path, rows, preds, ScriptedBackend(script))
    path = run_dir / "judgments-gpt-4o-mini.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:len(lines) // 2]) + "\n", encoding="utf-8")  # killed half way
    partial = rescore_run(run_dir, None)[1].headline
    assert partial["n_unjudged"] > 0 and "mmbench_circular_accuracy" not in partial
    cfg = validate_judge({"kind": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1"})
    judge_run(run_dir, cfg, backend=_Resuming(script, path))
    done = rescore_run(run_dir, None)[1].headline
    assert "n_unjudged" not in done and "mmbench_circular_accuracy" in done


class _Resuming(ScriptedBackend):
    """Counts the asks already in the judgments file, so a re-ask gets its next scripted reply."""

    def __init__(self, script, path: Path):
        import json

        super().__init__(script)
        self.bodies = [json.loads(line)["request"] for line in path.read_text(encoding="utf-8").splitlines()[1:]]


def test_without_a_judge_the_numbers_are_exact_matching(case, tmp_path):
    rows, preds, _ = case
    tsv = tmp_path / "dev.tsv"
    rows.to_csv(tsv, sep="\t", index=False)
    items = MMBenchDataset(path=str(tsv)).load()
    run_dir = write_run(tmp_path / "run", TARGET, items, dict(zip(rows["index"].astype(str), preds)),
                        name="mmbench", path=str(tsv))
    head = rescore_run(run_dir, None)[1].headline
    exact = V.report_acc(V.mcq_circular_eval(None, rows.drop(columns=["answer"]).assign(prediction=preds), rows, 1,
                                             str(tmp_path / "exact.pkl"), "MMBench_DEV_EN"))
    assert head["mmbench_circular_accuracy"] == pytest.approx(as_dict(exact)["Overall"])
    assert head["mmbench_extraction"].startswith("exact matching") and "mmbench_llm_decided" not in head


@pytest.mark.parametrize("reply, letter", [("B", "B"), ("  C\n", "C"), ("The answer is A", "A"), ("Z", "Z"),
                                           ("A B", ""), ("", ""), ("Failed to obtain answer via API. B", ""),
                                           ("cat", "A"), ("狗", "")])
def test_a_reply_is_read_as_vlmevalkit_reads_it(reply, letter):
    options = {"A": "cat", "B": "dog", "C": "bird"}
    official = V.can_infer(reply.strip(), dict(options)) if "Failed to obtain" not in reply else False
    assert LLM.read_reply(reply, options) == letter == (official or "")


def test_the_fallback_is_uniform_over_the_options_and_z_and_stable():
    options = {"A": "x", "B": "y", "C": "z"}
    picks = [LLM.fallback_letter(str(i), options) for i in range(4000)]
    assert set(picks) == {"A", "B", "C", "Z"}
    assert all(800 < picks.count(letter) < 1200 for letter in "ABCZ")
    assert picks[:50] == [LLM.fallback_letter(str(i), options) for i in range(50)]


def test_a_suite_runs_mmbench_without_asking_for_a_judge():
    """The exact-matching number is MMBench's own: a suite never skips it for want of a judge, and
    the suite's judge (meant for LLaVA-Bench, MM-Vet) does not extend to it (judge it later with
    python -m evalkit.judge RUN_DIR)."""
    from omegaconf import OmegaConf

    from evalkit.suite import judge_applies, unjudged_skip

    mmbench = {"_target_": "datasets_adapters.mmbench.MMBenchDataset", "name": "mmbench"}
    cfg = OmegaConf.create({"suite": {"name": "t", "unjudged": "fail"}, "judge": None, "dataset": mmbench})
    assert unjudged_skip(cfg) is None
    cfg.judge = {"kind": "openai", "model": "m"}
    assert not judge_applies(cfg)
    cfg.suite.name = None  # outside a suite, judge=... applies to MMBench
    assert judge_applies(cfg)


def test_imported_llava_answers_are_extracted_the_same(case, tmp_path):
    """LLaVA's MMBench answer file (question_id, prompt, text), imported with the dev TSV, then
    judged: the same numbers as the run that generated the same answers."""
    import json

    from evalkit.score import main as score_main

    rows, preds, script = case
    generated = rescore_run(judged_run(tmp_path / "gen", rows, preds, ScriptedBackend(script)), None)[1].headline
    tsv = tmp_path / "dev.tsv"
    rows.to_csv(tsv, sep="\t", index=False)
    answers_file = tmp_path / "llava-v1.5-7b.jsonl"
    answers_file.write_text("".join(json.dumps({"question_id": int(i), "prompt": "", "text": p}, ensure_ascii=False)
                                    + "\n" for i, p in zip(rows["index"], preds)), encoding="utf-8")
    assert score_main(["--benchmark", "mmbench", str(answers_file), "--questions", str(tsv),
                       "--out", str(tmp_path / "imported")]) == 0
    cfg = validate_judge({"kind": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1"})
    record_judge(tmp_path / "imported", judge_run(tmp_path / "imported", cfg, backend=ScriptedBackend(script)))
    imported = rescore_run(tmp_path / "imported", None)[1].headline
    for key in ("mmbench_circular_accuracy", "mmbench_vanilla_accuracy", "mmbench_llm_decided",
                "mmbench_fallback_decided"):
        assert imported[key] == generated[key], key


def test_two_judges_are_compared_on_the_copies_they_decided(case, tmp_path):
    from evalkit.report.judges import compare_series, rating_series

    class AlwaysA:
        def complete_many(self, requests):
            for i, _ in enumerate(requests):
                yield i, ChatReply(text="A", model="other")

    rows, preds, script = case
    run_dir = judged_run(tmp_path, rows, preds, ScriptedBackend(script))
    cfg = validate_judge({"kind": "openai", "model": "always-a", "base_url": "http://127.0.0.1:9/v1"})
    record_judge(run_dir, judge_run(run_dir, cfg, backend=AlwaysA()))
    first, second = rating_series(run_dir)
    decided = rescore_run(run_dir, None, judge="gpt-4o-mini")[1].headline
    pair = compare_series(first, second, n_boot=200, seed=0, confidence=0.95)
    assert pair["n"] == decided["mmbench_llm_decided"] + decided["mmbench_fallback_decided"]
    assert 0 <= pair["mean_a"] <= 1 and pair["mean_a"] != pair["mean_b"]


def test_only_answers_whose_letter_can_change_a_number_are_sent():
    """VLMEvalKit's CircularEval asks nothing for a question with a readable wrong copy (prefetch
    fails it); vanilla needs the first copy's letter whatever the other copies say. A generation
    error fails its question like a wrong copy; a test-split row (no answer) is never sent."""
    options = {"A": "cat", "B": "dog"}

    def row(index, text, answer="A", error=None):
        return {"id": str(index), "group": str(index % 1_000_000), "answer": answer, "text": text, "error": error,
                "meta": {"options": options}}

    rows = pd.DataFrame([row(1, "hmm"), row(1_000_001, "A", "B"),               # readable wrong copy: first only
                         row(2, "B", "B"), row(1_000_002, "I think so"),        # all readable right: ask
                         row(3, "well"), row(1_000_003, "", error="CUDA OOM"),  # an error copy: first only
                         row(4, "maybe", answer=""),                             # test split: never
                         row(5, "B"), row(1_000_005, "no idea", "B")])           # readable wrong first copy
    assert sorted(LLM.needs_judge(rows)) == ["1", "1000002", "3"]
