"""Object HalBench's --use_gpt path (`dataset=object_halbench judge=...`) against RLHF-V's own code
(tests/support/rlhfv/eval_gpt_obj_halbench.py: CHAIR(...).compute_chair(cap_file, -1,
gpt_process=True, org_dir=QFILE), which runs get_gpt_resp, get_pred_objs_match and the totals;
its requests go through RLHF-V's own gpt4_grpc.Chat, tests/support/rlhfv/gpt4_grpc.py).

Both sides get the same files (COCO annotations, the question file, an answer file as RLHF-V's
muffin_vqa writes it), the same judge replies per answer (support.objhal_gpt_script: unreadable
replies re-asked, the '["' last-line form, a short answer never sent, a JSON object and a JSON
string iterated as Python iterates them) and the same spaCy pipeline, a blank English pipeline with
an attribute_ruler that sets tag_ and lemma_ (en_core_web_trf cannot be installed offline), saved
to disk and loaded by path on both sides. RLHF-V's replies come from a stand-in for the
`openai.ChatCompletion.create` its Chat calls (openai < 1.0's API; no network); evalkit's from a
scripted judge backend through its judge stage and store, then `evalkit.score`'s rescoring.
Shown: the request bodies are equal (model, system message, temperature, top_p, max_tokens and
penalties, and how often each is sent), and the overall metrics and per-answer results are equal.
The official script's `time.sleep` between requests is stubbed (5 s per reply, 10+ s per failure)."""

from __future__ import annotations

import json
import time
import types
from collections import Counter
from pathlib import Path

import pytest

from datasets_adapters import object_halbench_gpt as GPT
from datasets_adapters.object_halbench import ObjectHalBenchDataset
from datasets_adapters.object_halbench_task import clean_answer
from evalkit import score as score_cli
from evalkit.errors import ConfigError
from evalkit.judge.config import validate_judge
from evalkit.judge.stage import check_judge, judge_run, record_judge
from evalkit.judge.store import judgments_path
from evalkit.score import rescore_run
from evalkit.serving.openai_client import ChatReply
from support.coco_files import write_coco
from support.objhal_files import TRUTH
from support.objhal_gpt_script import CASES, Script, spacy_pipeline, write_cases
from support.rlhfv_official import import_official

JUDGE = {"kind": "openai", "model": GPT.MODEL, "base_url": "http://127.0.0.1:9/v1"}
SAME = (("objhal_response_hall", "CHAIRs_refine"), ("objhal_object_hall", "CHAIRi"), ("objhal_recall", "obj_rec"),
        ("objhal_response_correct", "correct_rate"), ("objhal_object_correct", "object_correct_rate"),
        ("objhal_len", "avg_word_len"))


class ScriptedBackend:
    """evalkit's judge backend interface (complete_many), answering from the script."""

    def __init__(self, script: Script):
        self.script = script

    def complete_many(self, requests):
        for i, request in enumerate(requests):
            yield i, ChatReply(text=self.script.next_reply(request.body()), model=GPT.MODEL, prompt_tokens=2,
                               completion_tokens=1)


class Refuses:
    def complete_many(self, requests):
        raise AssertionError(f"the judge was called for {len(requests)} request(s): they are cached")


@pytest.fixture
def files(nltk_data, tmp_path):
    coco = write_coco(tmp_path / "coco", TRUTH)
    questions, answers = write_cases(tmp_path)
    return coco, questions, answers, spacy_pipeline(tmp_path / "nlp")


def official_review(monkeypatch, script: Script, files, fail_limit: int = 100) -> dict:
    """RLHF-V's __main__ with --use_gpt for one answer file, its GPT replies from `script`."""
    import spacy

    coco, questions, answers, nlp = files
    pipeline = spacy.load(nlp)
    module = import_official(monkeypatch, script.openai_create)
    monkeypatch.setattr(module, "nlp", pipeline)
    monkeypatch.setattr(module, "time", types.SimpleNamespace(sleep=lambda seconds: None, time=time.time))
    _, imids, _ = module.load_generated_captions(str(answers), org_dir=str(questions))
    evaluator = module.CHAIR(imids, str(coco), "")
    evaluator.fail_limit = fail_limit
    evaluator.get_annotations()
    return evaluator.compute_chair(str(answers), -1, gpt_process=True, org_dir=str(questions))


def evalkit_run(tmp_path: Path, files, backend, *settings: str) -> Path:
    """The answer file imported (evalkit.score --benchmark), judged by `backend` (evalkit.judge's stage)."""
    coco, questions, answers, nlp = files
    out = tmp_path / "run"
    assert score_cli.main(["--benchmark", "object_halbench", str(answers), "--annotations", str(coco),
                           "--questions", str(questions), "--out", str(out), "--set", f"spacy_model={nlp}",
                           *[a for s in settings for a in ("--set", s)]]) == 0
    record_judge(out, judge_run(out, validate_judge(JUDGE), backend=backend))
    return out


def canonical(bodies) -> Counter:
    return Counter(json.dumps(b, sort_keys=True, ensure_ascii=False) for b in bodies)


def test_requests_and_numbers_equal_rlhfvs_gpt_path(files, tmp_path, monkeypatch):
    theirs, ours = Script(), Script()
    review = official_review(monkeypatch, theirs, files)
    run_dir = evalkit_run(tmp_path, files, ScriptedBackend(ours))
    # (a) the same bodies, as often: RLHF-V's Chat kwargs are the whole request
    assert canonical(ours.sent) == canonical(theirs.sent)
    assert {k for b in ours.sent for k in b} == {"model", "messages", "temperature", "top_p", "max_tokens",
                                                 "presence_penalty", "frequency_penalty"}
    asked = Counter(clean_answer(b["messages"][0]["content"].split("[Start of Examiner's Answer]\n\n")[1]
                                 .split("\n\n[End")[0]) for b in ours.sent)
    assert asked["A coffee table with a remote control and a laptop computer; the car door is open."] == 3
    assert "Nothing." not in asked and len(asked) == len(CASES) - 1
    assert any("Fill An empty street at night. in." in b["messages"][0]["content"] for b in ours.sent)

    # (b) the numbers: overall, the printed counts, and per answer
    _, scores = rescore_run(run_dir, None)
    summary, overall = scores.headline, review["overall_metrics"]
    assert summary["objhal_extraction"].startswith(f"{GPT.MODEL} object extraction + spaCy en_objhal_test")
    assert summary["objhal_extraction_failures"] == 0 and summary["objhal_short_answers"] == 1
    assert summary["objhal_judge_requests"] == len(theirs.sent)
    for mine, official in SAME:
        assert summary[mine] == pytest.approx(overall[official], abs=1e-12), mine
    table = scores.metrics.set_index("category").loc["all"]
    assert table["chair_s"] == pytest.approx(overall["CHAIRs"], abs=1e-12)
    assert (table["n"], table["coco_sentences"], table["coco_words"], table["gt_words"]) == \
        (overall["sentence_num"], overall["coco_sentence_num"], overall["coco_word_count"], overall["gt_word_count"])
    frame = scores.frame.set_index(scores.frame["text"].map(clean_answer))
    assert len(review["sentences"]) == len(CASES)
    for sentence in review["sentences"]:  # the official order is the threads' finishing order
        row = frame.loc[sentence["caption"]]
        score = row["chair_score"]
        assert list(score.mentioned) == [n for _, n in sentence["mscoco_generated_words"]], sentence["caption"]
        assert [list(h) for h in score.hallucinated] == [[w, n[1]] for w, n in sentence["mscoco_hallucinated_words"]]
        assert set(score.ground_truth) == set(sentence["mscoco_gt_words"])
        assert score.n_words == len(sentence["words"])
        assert bool(row["correct"]) == (sentence["metrics"]["CHAIRs"] == 0)
    # the cases cover what they claim: hallucinated and clean answers, answers naming no COCO object
    assert 0 < overall["CHAIRs_refine"] < 1 and 0 < overall["CHAIRi"] < 1 and 0 < overall["obj_rec"] < 1
    assert overall["coco_sentence_num"] < overall["sentence_num"]


def test_over_http_the_wire_bodies_are_the_same_requests(files, tmp_path, capsys):
    """`python -m evalkit.judge RUN_DIR judge=openai ...` against a scripted OpenAI-compatible server
    on 127.0.0.1 (a thread): what arrives on the wire (penalties and top_p included) is what the
    scripted backend above saw, so what RLHF-V's Chat sends; the numbers are the same."""
    from evalkit.judge.__main__ import main as judge_main
    from support.judge_server import ScriptedServer

    direct = Script()
    expected = rescore_run(evalkit_run(tmp_path / "direct", files, ScriptedBackend(direct)), None)[1].headline
    coco, questions, answers, nlp = files
    out = tmp_path / "http"
    assert score_cli.main(["--benchmark", "object_halbench", str(answers), "--annotations", str(coco),
                           "--questions", str(questions), "--out", str(out), "--set", f"spacy_model={nlp}"]) == 0
    wire = Script()
    with ScriptedServer(wire.next_reply, models=[GPT.MODEL]) as server:
        assert judge_main([str(out), "judge=openai", f"judge.base_url={server.base_url}", f"judge.model={GPT.MODEL}",
                           "judge.concurrency=2"]) == 0
    assert canonical(server.bodies) == canonical(direct.sent)
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    assert {k: metrics[k] for k, _ in SAME} == pytest.approx({k: expected[k] for k, _ in SAME}, abs=1e-12)
    assert "objhal_response_hall" in capsys.readouterr().out


def test_rescoring_and_rejudging_never_call_the_judge(files, tmp_path):
    run_dir = evalkit_run(tmp_path, files, ScriptedBackend(Script()))
    first = rescore_run(run_dir, None)[1].headline
    assert first["objhal_extraction"].startswith(GPT.MODEL)
    record_judge(run_dir, judge_run(run_dir, validate_judge(JUDGE), backend=Refuses()))
    _, scores = rescore_run(run_dir, None)
    assert {k: scores.headline[k] for k, _ in SAME} == {k: first[k] for k, _ in SAME}


def test_without_a_judge_the_keyword_path_scores(files, tmp_path):
    coco, questions, answers, nlp = files
    assert score_cli.main(["--benchmark", "object_halbench", str(answers), "--annotations", str(coco),
                           "--questions", str(questions), "--out", str(tmp_path / "kw")]) == 0
    metrics = json.loads((tmp_path / "kw" / "summary.json").read_text())["metrics"]
    assert metrics["objhal_extraction"].startswith("keyword")
    assert "objhal_response_hall" in metrics and "objhal_judge_requests" not in metrics


def test_an_answer_without_a_readable_reply_leaves_the_numbers_out(files, tmp_path, monkeypatch):
    """RLHF-V gives up after fail_limit unreadable replies ('-1\\n<no_response>') and then fails an
    assert; evalkit asks as often, then counts the failure and reports no number."""
    unreadable = ["Sorry, I cannot help.", "[dog, cat]", "objects: none"]
    cases = [(i, q, t, unreadable if k == 1 else r) for k, (i, q, t, r) in enumerate(CASES)]
    theirs, ours = Script(cases), Script(cases)
    with pytest.raises(AssertionError):
        official_review(monkeypatch, theirs, files, fail_limit=3)
    run_dir = evalkit_run(tmp_path, files, ScriptedBackend(ours), "judge_fail_limit=3")
    assert canonical(ours.sent) == canonical(theirs.sent)
    metrics = rescore_run(run_dir, None)[1].headline
    assert metrics["objhal_extraction_failures"] == 1
    assert not any(k in metrics for k, _ in SAME)


def test_a_reply_that_is_json_but_not_a_list_of_objects_is_a_failure(files, tmp_path):
    """json.loads("5") reads, so RLHF-V stops asking, then `for text in 5` raises TypeError."""
    cases = [(i, q, t, ["5"] if k == 0 else r) for k, (i, q, t, r) in enumerate(CASES)]
    run_dir = evalkit_run(tmp_path, files, ScriptedBackend(Script(cases)))
    metrics = rescore_run(run_dir, None)[1].headline
    assert metrics["objhal_extraction_failures"] == 1 and "objhal_response_hall" not in metrics


def test_a_partly_judged_run_gives_no_number_and_resumes(files, tmp_path):
    run_dir = evalkit_run(tmp_path, files, ScriptedBackend(Script()))
    path = judgments_path(run_dir, GPT.MODEL)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lost = [line for line in lines if "Jets fly" in line or "a teddy bear 🧸" in line]  # one request each
    assert len(lost) == 2
    path.write_text("".join(line for line in lines if line not in lost), encoding="utf-8")
    _, scores = rescore_run(run_dir, None)
    assert scores.headline["n_unjudged"] >= 1 and "objhal_response_hall" not in scores.headline
    script = Script()
    backend = ScriptedBackend(script)
    record_judge(run_dir, judge_run(run_dir, validate_judge(JUDGE), backend=backend))
    assert len(script.sent) == 2
    assert "objhal_response_hall" in rescore_run(run_dir, None)[1].headline


def test_a_missing_spacy_pipeline_fails_before_anything_naming_the_fix(files, tmp_path):
    coco, questions, answers, nlp = files
    cfg = validate_judge(JUDGE)
    with pytest.raises(ConfigError, match=r"python -m spacy download en_core_web_trf"):
        check_judge(cfg, ObjectHalBenchDataset, {"object_halbench": [{"spacy_model": "en_core_web_trf"}]})
    missing = str(tmp_path / "no_pipeline")
    with pytest.raises(ConfigError, match=r"dataset.spacy_model=.*no_pipeline"):
        check_judge(cfg, ObjectHalBenchDataset, {"object_halbench": [{"spacy_model": missing}]})
    items = ObjectHalBenchDataset(path=str(questions), annotations=str(coco), cache_dir=str(tmp_path / "cache"),
                                  spacy_model=missing, judge_fail_limit=7).load()
    assert {(i.meta["spacy_model"], i.meta["judge_fail_limit"]) for i in items} == {(missing, 7)}
    out = tmp_path / "imported"
    assert score_cli.main(["--benchmark", "object_halbench", str(answers), "--annotations", str(coco),
                           "--questions", str(questions), "--out", str(out), "--set", f"spacy_model={missing}"]) == 0
    with pytest.raises(ConfigError, match="no_pipeline"):
        judge_run(out, cfg, backend=Refuses())  # nothing is sent


def test_a_judged_run_without_the_pipeline_stops_before_the_model_and_the_judge(files, tmp_path):
    """`python -m evalkit ... judge=...`, in process: the spaCy check runs beside the judge's check,
    after the items load and before the model (a folder that is no checkpoint) or the endpoint."""
    from hydra import compose, initialize_config_dir

    from evalkit.config import conf_dir
    from evalkit.pipeline import run
    from evalkit.registry import register_configs

    coco, questions, _, _ = files
    not_a_checkpoint = tmp_path / "not_a_checkpoint"
    not_a_checkpoint.mkdir()
    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        cfg = compose(config_name="config", overrides=[
            "model=tiny_llava15", "dataset=object_halbench", f"dataset.path={questions}",
            f"dataset.annotations={coco}", f"dataset.cache_dir={tmp_path / 'cache'}", f"model.path={not_a_checkpoint}",
            f"output_dir={tmp_path / 'run'}", f"dataset.spacy_model={tmp_path / 'no_pipeline'}", "device=cpu",
            "judge=openai", f"judge.model={GPT.MODEL}", "judge.base_url=http://127.0.0.1:9/v1"])
    with pytest.raises(ConfigError, match=r"no_pipeline.*python -m spacy download"):
        run(cfg)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("reply", [
    '["dog", "cat"]', "[]", '  ["dog"]  ', 'Objects:\n["dog", "cat"]', 'Objects:\n["dog", "cat"]\n',
    '```json\n["dog"]\n```', "[dog]", "dog, cat", '{"a": 1}', '"dog"', "5", "null", "", 'x ["a"] y',
    'The list: ["a",\n"b"]', '["a"]\n["b"]', "NaN"])
def test_a_reply_is_read_as_parse_object_list_reads_it(reply, monkeypatch):
    official = import_official(monkeypatch)
    try:
        expected = ("ok", official.parse_object_list(reply))
    except ValueError:
        expected = ("error", None)
    try:
        got = ("ok", GPT.parse_object_list(reply))
    except ValueError:
        got = ("error", None)
    assert repr(got) == repr(expected)


def test_the_object_steps_equal_rlhfvs_on_their_own(files, monkeypatch):
    """get_double_words_only, postagging and caption_objects_to_coco_objects, case by case."""
    import spacy

    from datasets_adapters.object_halbench_vocab import OBJHAL_VOCABULARY

    *_, nlp_dir = files
    nlp = spacy.load(nlp_dir)
    official = import_official(monkeypatch)
    evaluator = official.CHAIR({1}, str(files[0]), "")
    for text in ["dining table", "red car", "car door", "bow tie", "toilet seat", "baby elephant", "TV", "a b c",
                 "passenger train", "wine glasses", "remote control", "teddy bear near tv"]:
        doc = nlp(f"a {text}")
        lemmas = [t.lemma_ for t in doc]
        assert GPT.double_words_only(OBJHAL_VOCABULARY, lemmas) == evaluator.get_double_words_only(lemmas), text
        assert GPT.noun_runs(doc) == evaluator.postagging(doc), text
    for objs in [["toilet", "seat", "chair"], ["seat", "chair"], ["man", "car door", "dining table", "tv"], []]:
        words, nodes, _ = evaluator.caption_objects_to_coco_objects(list(objs))
        score = GPT.objects_score(OBJHAL_VOCABULARY, objs, ["person"])
        assert list(score.mentioned) == [n for _, n in nodes] and len(words) == len(score.mentioned)
