"""decoding=yesno_logits: one forward pass gives the same p_yes as the first step of greedy decoding
(left padding, batching, feature cache and shared prefix included), the decision at 0.5 is written
as "Yes"/"No", and on a model that answers with a yes/no word it equals the greedy answer."""

from __future__ import annotations

import pytest
import torch

from datasets_adapters.yesno_files import YesNoFileDataset
from evalkit.tools.bench_setup import prime_yes_no
from evalkit.errors import ConfigError
from evalkit.models.llava import LlavaModel
from evalkit.models.yesno import decision, p_yes_from_logits, yes_no_token_ids
from evalkit.registry import validate_decoding
from evalkit.decoding.greedy import Greedy
from evalkit.decoding.yesno_logits import YesNoLogits, YesNoLogitsConfig
from evalkit.runner import iterate_predictions
from evalkit.scoring.parse import parse_answer
from evalkit.tools.tiny import build_tokenizer

LOGITS = YesNoLogits()
GREEDY = Greedy(max_new_tokens=4)


@pytest.fixture(scope="module")
def items(yesno_file):
    return YesNoFileDataset(str(yesno_file)).load()


def _run(items, model, decoding, batch_size):
    out = {}
    for predictions, _ in iterate_predictions(items, model, decoding, batch_size):
        for p in predictions:
            assert p.error is None, p.error
            out[p.item_id] = p
    return out


def test_yes_no_token_variants_of_the_tiny_tokenizer():
    tokens = yes_no_token_ids(build_tokenizer())
    assert set(tokens["yes"].values()) == {"Yes", "▁Yes", "▁yes"}
    assert set(tokens["no"].values()) == {"No", "▁No", "no", "▁no"}


def test_p_yes_is_the_yes_share_of_the_yes_no_mass():
    logits = torch.full((2, 6), -30.0)
    logits[0, [1, 2]] = torch.tensor([0.0, 0.0])  # yes tokens 1 and 2
    logits[0, 4] = 0.0  # no token 4: P(yes) = 2/3 of the yes/no mass
    logits[1, 4] = 5.0
    p = p_yes_from_logits(logits, yes_ids=[1, 2], no_ids=[4])
    assert p[0] == pytest.approx(2 / 3, abs=1e-6) and p[1] < 1e-3
    assert decision(0.5) == "Yes" and decision(0.4999) == "No"


@pytest.mark.parametrize("family", ["llava15", "llava16"])
def test_logit_mode_equals_greedy_first_step(family, tiny_checkpoints, items):
    model = LlavaModel(name="t", path=str(tiny_checkpoints[family]), family=family, device="cpu")
    greedy = _run(items, model, GREEDY, 1)
    for cache in (None, {"enabled": True}):
        model.configure_cache(cache)
        for batch_size in (1, 8):
            got = _run(items, model, LOGITS, batch_size)
            for key, p in got.items():
                assert abs(p.p_yes - greedy[key].p_yes) < 1e-4, (cache, batch_size, key)
                assert p.raw_text == p.text == decision(p.p_yes)
    assert len({round(p.p_yes, 4) for p in greedy.values()}) > 3


@pytest.mark.parametrize("family", ["llava15", "llava16"])
def test_logit_decision_equals_a_clean_greedy_answer(family, tiny_checkpoints, items):
    model = LlavaModel(name="t", path=str(tiny_checkpoints[family]), family=family, device="cpu",
                       feature_cache={"enabled": True})
    prime_yes_no(model, items)  # answers ▁Yes / ▁No then </s>, like a trained LLaVA
    greedy = _run(items, model, Greedy(max_new_tokens=8), 8)
    logits = _run(items, model, LOGITS, 8)
    clean = {k: parse_answer(p.text, "strict") for k, p in greedy.items()}
    assert set(clean.values()) == {"yes", "no"}  # both answers occur: the check has teeth
    assert all(logits[k].text.lower() == v for k, v in clean.items())


def test_logit_method_schema_takes_no_generation_keys():
    node = {"_target_": "evalkit.decoding.yesno_logits.YesNoLogits", "name": "yesno_logits"}
    assert isinstance(validate_decoding(node), YesNoLogitsConfig)
    with pytest.raises(ConfigError, match="valid keys of decoding: _target_, name"):
        validate_decoding({**node, "max_new_tokens": 3})
