"""decoding=sample seeds each item by (run seed, item id): the same answers at any batch size and
item order; another seed gives other answers; a near-zero temperature gives greedy's answers and
top-p keeps only the nucleus, as HF's warpers do."""

from __future__ import annotations

import pytest
import torch

from datasets_adapters.yesno_files import YesNoFileDataset
from evalkit.decoding.base import DecodeBatch
from evalkit.decoding.greedy import Greedy
from evalkit.decoding.sample import Sample, item_seed
from evalkit.models.interface import DecodeState, Step
from evalkit.models.llava import LlavaModel
from evalkit.runner import iterate_predictions

HOT = dict(max_new_tokens=4, temperature=1.5, top_p=0.95)


@pytest.fixture(scope="module")
def items(yesno_file):
    return YesNoFileDataset(str(yesno_file)).load()


@pytest.fixture(scope="module")
def model(tiny_checkpoints):
    return LlavaModel(name="t", path=str(tiny_checkpoints["llava15"]), family="llava15", device="cpu")


def _texts(items, model, method, batch_size, seed=0):
    out = {}
    for predictions, _ in iterate_predictions(items, model, method, batch_size, seed=seed):
        for p in predictions:
            assert p.error is None, p.error
            out[p.item_id] = p.raw_text
    return out


def test_item_seed_is_stable_and_depends_on_seed_and_id():
    assert item_seed(0, "q1") == item_seed(0, "q1") == 6926734527277518220  # sha256: same in every process
    assert len({item_seed(0, "q1"), item_seed(1, "q1"), item_seed(0, "q2")}) == 3


def test_same_answers_whatever_the_batching_and_order(items, model):
    method = Sample(**HOT)
    reference = _texts(items, model, method, 1)
    assert len(set(reference.values())) > 4  # hot sampling on a random model: answers vary
    for batch_size in (3, 8):
        assert _texts(items, model, method, batch_size) == reference, batch_size
    assert _texts(items[::-1], model, method, 5) == reference  # another order, other batch mates
    model.configure_cache({"enabled": True})  # shared prefix + cached features: same draws
    try:
        assert _texts(items, model, method, 8) == reference
    finally:
        model.configure_cache(None)
    other = _texts(items, model, method, 8, seed=1)
    assert sum(other[k] != reference[k] for k in reference) >= len(reference) // 2


def test_cold_sampling_is_greedy(items, model):
    greedy = _texts(items, model, Greedy(max_new_tokens=4), 8)
    assert _texts(items, model, Sample(max_new_tokens=4, temperature=1e-6), 8) == greedy


class _Fixed:
    """A model whose every step gives the same logits: token 3 has 60% of the mass."""

    class tokenizer:
        pad_token_id = 0

        @staticmethod
        def batch_decode(rows, **_):
            return [" ".join(map(str, r)) for r in rows]

    def __init__(self, rows: int):
        probs = torch.tensor([0.0, 0.1, 0.15, 0.6, 0.15])
        self.logits = probs.clamp_min(1e-9).log().expand(rows, -1)

    def eos_token_ids(self):
        return [0]

    def start(self, batch):
        return Step(self.logits, DecodeState(None, torch.ones(1, 1), torch.zeros(1, 1)))

    def step(self, state, tokens):
        return Step(self.logits, state)


def test_top_p_keeps_the_nucleus_only():
    ids = tuple(f"i{n}" for n in range(64))
    batch = DecodeBatch({}, ids, seed=0)
    nucleus = Sample(max_new_tokens=8, top_p=0.5).decode(_Fixed(len(ids)), batch)
    assert set(" ".join(nucleus.texts).split()) == {"3"}  # 0.6 >= top_p: only token 3 is left
    full = Sample(max_new_tokens=8).decode(_Fixed(len(ids)), batch)
    assert set(" ".join(full.texts).split()) == {"1", "2", "3", "4"}  # never the zero-probability token 0
