"""The served engine against a scripted OpenAI-compatible server (exact replies, no vLLM): the
request evalkit sends (system message, image data URL, BOS, greedy / seeded sampling, log-probs),
the first-item prompt check (accepted when the server's token ids equal evalkit's, refused with
the difference otherwise), answers decoded from the server's token ids as transformers decodes,
P(yes) from top log-probs, replies put back in row order, a dead server stopping the run
(EngineUnavailable) while a refused request is that item's error, and the config-time refusals."""

from __future__ import annotations

import math
import threading
import time

import pytest
import torch
from PIL import Image

from evalkit.config import PACKAGE_DIR, EngineConfig
from evalkit.decoding.greedy import Greedy
from evalkit.decoding.sample import Sample
from evalkit.decoding.steploop import item_seed
from evalkit.decoding.base import DecodeBatch
from evalkit.engines import check_supported
from evalkit.engines.served import ServedModel
from evalkit.errors import ConfigError, EngineUnavailable
from evalkit.models.prompts import LLAVA_SYSTEM
from evalkit.serving.vllm_server import hub_name
from tests.support.judge_server import ScriptedServer

pytest.importorskip("openai")
TINY15 = str(PACKAGE_DIR / "checkpoints" / "tiny_llava15")


def served(base_url: str, **kw) -> ServedModel:
    return ServedModel(name="tiny", path=TINY15, served_model="tiny", base_url=base_url, **kw)


def image(w=40, h=20, color=(200, 10, 10)) -> Image.Image:
    return Image.new("RGB", (w, h), color)


class Replies:
    """Per request: the answer's token ids (and the prompt ids, log-probs) a vLLM server would send."""

    def __init__(self, model: ServedModel, answer: str = "Yes", prompt_ids=None, top=None, delay_first=0.0):
        self.model, self.answer, self.prompt_ids, self.top, self.delay_first = model, answer, prompt_ids, top, delay_first
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, body: dict):
        with self.lock:
            self.count += 1
            n = self.count
        text = body["messages"][-1]["content"][1]["text"]
        if n == 2 and self.delay_first:  # the first of a concurrent batch answers last
            time.sleep(self.delay_first)
        ids = self.model.tokenizer(f"{self.answer} {text[-3:]}", add_special_tokens=False)["input_ids"]
        reply = {"content": " " + self.answer, "token_ids": ids, "prompt_token_ids": self.prompt_ids(body)
                 if callable(self.prompt_ids) else self.prompt_ids}
        if self.top is not None:
            reply["top_logprobs"] = self.top
        return reply


def batch_of(model, questions, img=None):
    inputs = [model.prepare(img or image(), q) for q in questions]
    return model.collate(inputs), inputs


def test_request_prompt_check_and_answers_in_row_order():
    probe = served("http://127.0.0.1:9/v1")
    with ScriptedServer(reply=lambda body: "") as server:
        model = served(server.base_url, concurrency=4)
        batch, inputs = batch_of(model, ["Is it red? q01", "Is it red? q02", "Is it red? q03"])
        replies = Replies(model, prompt_ids=inputs[0].input_ids.tolist(), delay_first=0.3)
        server.reply = replies
        texts = model.generate(batch, max_new_tokens=7)
    # Row order, whatever order the replies came in; text decoded from the token ids (no leading space).
    assert texts == ["Yes q01", "Yes q02", "Yes q03"]
    body = server.bodies[0]
    assert body["messages"][0] == {"role": "system", "content": LLAVA_SYSTEM}
    user = body["messages"][1]["content"]
    assert user[0]["type"] == "image_url" and user[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert user[1] == {"type": "text", "text": "Is it red? q01"}
    assert body["temperature"] == 0.0 and body["max_tokens"] == 7
    assert body["add_special_tokens"] is True and body["return_token_ids"] is True
    assert "seed" not in body and "logprobs" not in body
    # evalkit's own ids: BOS first, the image placeholder expanded to the image's tokens
    ids = inputs[0].input_ids.tolist()
    assert ids[0] == model.tokenizer.bos_token_id
    assert ids.count(model.image_token_id) == probe.num_image_tokens((40, 40))  # padded to square first


def test_a_server_rendering_another_prompt_is_refused_with_the_difference():
    with ScriptedServer(reply=lambda body: "") as server:
        model = served(server.base_url)
        batch, inputs = batch_of(model, ["Is it red?"])
        wrong = inputs[0].input_ids.tolist()[1:]  # no BOS: what a server without add_special_tokens renders
        server.reply = Replies(model, prompt_ids=wrong)
        with pytest.raises(ConfigError, match="first difference at token 0"):
            model.generate(batch, max_new_tokens=3)
        server.reply = Replies(model, prompt_ids=None)
        with pytest.raises(ConfigError, match="did not report the prompt's token ids"):
            model.generate(batch, max_new_tokens=3)
    # A server reporting the placeholder unexpanded (one image token) passes when the rest is equal.
    with ScriptedServer(reply=lambda body: "") as server:
        model = served(server.base_url)
        batch, inputs = batch_of(model, ["Is it red?"])
        ids = inputs[0].input_ids.tolist()
        at = ids.index(model.image_token_id)
        short = ids[:at + 1] + [t for t in ids[at:] if t != model.image_token_id]
        server.reply = Replies(model, prompt_ids=short)
        assert model.generate(batch, max_new_tokens=3) == ["Yes ed?"]


def test_p_yes_and_choices_from_top_logprobs():
    with ScriptedServer(reply=lambda body: "") as server:
        model = served(server.base_url, check_prompt=False)
        yes = sorted(model.yes_no_tokens()["yes"])
        no = sorted(model.yes_no_tokens()["no"])
        top = [(f"token_id:{yes[0]}", math.log(0.6)), (f"token_id:{no[0]}", math.log(0.2)),
               (f"token_id:{yes[-1]}", math.log(0.1)), ("token_id:5", math.log(0.05))]
        server.reply = Replies(model, top=top)
        batch, _ = batch_of(model, ["Is it red?"])
        texts, p_yes = model.generate(batch, max_new_tokens=3, with_p_yes=True)
        expected = (0.6 + (0.1 if yes[-1] != yes[0] else 0)) / (0.6 + (0.1 if yes[-1] != yes[0] else 0) + 0.2)
        assert p_yes[0] == pytest.approx(expected, rel=1e-5)
        assert server.bodies[-1]["logprobs"] is True and server.bodies[-1]["top_logprobs"] == 20
        assert server.bodies[-1]["return_tokens_as_token_ids"] is True
        probs = model.choice_probs(batch, [("yes", "no")])
        assert probs[0][0] == pytest.approx(expected, rel=1e-5) and server.bodies[-1]["max_tokens"] == 1
        server.reply = Replies(model, top=[("token_id:5", 0.0)])  # neither option among the top tokens
        assert model.generate(batch, max_new_tokens=3, with_p_yes=True)[1] == [None]
        with pytest.raises(ValueError, match="engine.top_logprobs"):
            model.choice_probs(batch, [("yes", "no")])


def test_sampling_sends_each_items_seed():
    with ScriptedServer(reply=lambda body: "") as server:
        model = served(server.base_url, check_prompt=False)
        server.reply = Replies(model)
        batch, _ = batch_of(model, ["a?", "b?"])
        method = Sample(max_new_tokens=5, temperature=0.7, top_p=0.9)
        method.decode(model, DecodeBatch(batch, ("item-a", "item-b"), seed=3))
        sent = sorted((b["messages"][-1]["content"][1]["text"], b["seed"], b["temperature"], b["top_p"])
                      for b in server.bodies)
        assert sent == [("a?", item_seed(3, "item-a"), 0.7, 0.9), ("b?", item_seed(3, "item-b"), 0.7, 0.9)]


def test_a_dead_server_stops_the_run_and_a_refused_request_is_the_items_error():
    model = served("http://127.0.0.1:9/v1", check_prompt=False)  # nothing listens on port 9
    batch, _ = batch_of(model, ["a?"])
    with pytest.raises(EngineUnavailable, match="resume"):
        model.generate(batch, max_new_tokens=3)
    with ScriptedServer(reply=lambda body: {"status": 400}) as server:
        model = served(server.base_url, check_prompt=False)
        with pytest.raises(Exception) as caught:
            model.generate(batch, max_new_tokens=3)
        assert not isinstance(caught.value, EngineUnavailable)  # the runner makes it this item's error row


def test_what_a_served_engine_cannot_run_is_refused_at_config_time():
    engine = EngineConfig(kind="vllm")
    model = {"name": "x", "path": TINY15, "feature_cache": {"enabled": False}}
    check_supported(engine, model, Greedy(max_new_tokens=4))  # greedy is served
    with pytest.raises(ConfigError, match="num_beams"):
        check_supported(engine, model, Greedy(max_new_tokens=4, num_beams=2))
    check_supported(engine, {**model, "feature_cache": {"enabled": True}}, Greedy())  # on by default: left unused
    with pytest.raises(ConfigError, match="feature_cache.disk_dir"):
        check_supported(engine, {**model, "feature_cache": {"enabled": True, "disk_dir": "/x"}}, Greedy())
    with pytest.raises(ConfigError, match="vision_feature_layer"):
        check_supported(engine, {**model, "vision_feature_layer": -1}, Greedy())
    from evalkit.decoding.contrastive import Contrastive

    with pytest.raises(ConfigError, match="logits of every step"):
        check_supported(engine, model, Contrastive(name="vcd", negative="noised_image"))
    check_supported(EngineConfig(kind="hf"), {**model, "feature_cache": {"enabled": True}}, Greedy(num_beams=2))
    with pytest.raises(ConfigError, match="base_url"):
        EngineConfig(kind="openai")


@pytest.mark.parametrize("saved,hub", [
    ("vision_tower.embeddings.patch_embedding.weight", "vision_tower.vision_model.embeddings.patch_embedding.weight"),
    ("vision_tower.vision_model.post_layernorm.bias", "vision_tower.vision_model.post_layernorm.bias"),
    ("language_model.model.layers.0.mlp.up_proj.weight", "language_model.model.layers.0.mlp.up_proj.weight"),
    ("model.language_model.layers.0.mlp.up_proj.weight", "language_model.model.layers.0.mlp.up_proj.weight"),
    ("model.vision_tower.encoder.layers.0.mlp.fc1.weight", "vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight"),
    ("lm_head.weight", "language_model.lm_head.weight"),
    ("model.multi_modal_projector.linear_1.weight", "multi_modal_projector.linear_1.weight"),
    ("model.image_newline", "image_newline"),
    ("image_newline", "image_newline"),
])
def test_weights_are_renamed_to_llava_hf_hub_layout(saved, hub):
    assert hub_name(saved) == hub


def test_hub_layout_copy_has_the_same_tensors(tmp_path):
    from safetensors.torch import load_file

    from evalkit.serving.vllm_server import hub_layout

    out = hub_layout(TINY15, tmp_path)
    assert out != TINY15 and hub_layout(TINY15, tmp_path) == out  # cached
    before = load_file(f"{TINY15}/model.safetensors")
    after = load_file(f"{out}/model.safetensors")
    assert set(after) == {hub_name(k) for k in before}
    assert all(torch.equal(before[k], after[hub_name(k)]) for k in before)


def test_resume_tells_engines_apart_but_not_their_plumbing():
    from evalkit.settings import answer_config

    base = {"model": {"name": "m", "path": "p"}, "decoding": {"_target_": "evalkit.decoding.greedy.Greedy",
                                                             "name": "greedy", "max_new_tokens": 4, "num_beams": 1}}
    hf = {**base, "engine": {"kind": "hf", "concurrency": 8}}
    served = {**base, "engine": {"kind": "vllm", "concurrency": 8, "python": "/a/python", "max_model_len": None}}
    assert answer_config(hf) == answer_config(base)  # run configs from before engines resume as engine=hf
    assert answer_config(served) != answer_config(hf)
    moved = {**served, "engine": {**served["engine"], "concurrency": 32, "python": "/b/python"}}
    assert answer_config(moved) == answer_config(served)


def test_each_ranks_server_gets_its_own_gpus(monkeypatch):
    from evalkit.engines import server_gpus

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    assert server_gpus("cpu", 1) == {}
    assert server_gpus("cuda:1", 1) == {"CUDA_VISIBLE_DEVICES": "5"}
    assert server_gpus("cuda:1", 2) == {"CUDA_VISIBLE_DEVICES": "6,7"}
    with pytest.raises(ConfigError, match="tensor_parallel_size"):
        server_gpus("cuda:2", 2)


def test_engine_openai_fails_early_on_an_unreachable_server_or_another_model():
    from evalkit.engines import build_model
    from evalkit.serving.openai_client import EndpointError

    model_cfg = {"name": "tiny", "path": TINY15}
    with pytest.raises(EndpointError, match="engine endpoint http://127.0.0.1:9/v1 .*unreachable"):
        build_model(model_cfg, EngineConfig(kind="openai", base_url="http://127.0.0.1:9/v1", model="tiny"), "auto")
    with ScriptedServer(reply=lambda body: "", models=("other",)) as server:
        with pytest.raises(EndpointError, match="does not serve model 'tiny'"):
            build_model(model_cfg, EngineConfig(kind="openai", base_url=server.base_url, model="tiny"), "auto")
        built = build_model(model_cfg, EngineConfig(kind="openai", base_url=server.base_url, model="other"), "auto")
        assert built.describe()["server"] == server.base_url.split("//")[1].split("/")[0]


def test_bench_counts_answers_equal_to_hf_item_by_item():
    from evalkit.tools.bench_engines import engine_overrides, same

    base = {"answers": {"a": "Yes", "b": "No", "c": "A red cross."}, "p_yes": {"a": 0.9, "b": 0.2, "c": None}}
    served = {"answers": {"a": "Yes", "b": "Yes", "c": "A red cross."}, "p_yes": {"a": 0.9005, "b": 0.6, "c": 0.5}}
    assert same(served, base) == "2/3, p_yes max diff 4.0e-01"
    assert engine_overrides("hf", None, 16) == []
    assert engine_overrides("vllm", "/v/python", 16) == ["engine=vllm", "engine.python=/v/python",
                                                         "engine.concurrency=16", "batch_size=16"]
