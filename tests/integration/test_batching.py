"""Batching never changes an answer: greedy predictions at batch size 8 (length-sorted, left-padded,
LLaVA-NeXT tiles of different aspect ratios in one batch) equal batch size 1, for both families."""

from __future__ import annotations

import pytest

from datasets_adapters.yesno_files import YesNoFileDataset
from evalkit.models.llava import LlavaModel
from evalkit.decoding.greedy import Greedy
from evalkit.runner import iterate_predictions, plan_batches

GREEDY = Greedy(max_new_tokens=6)


def _texts(items, model, batch_size, sort=True):
    out = {}
    for predictions, _ in iterate_predictions(items, model, GREEDY, batch_size, sort_by_length=sort):
        for p in predictions:
            assert p.error is None, p.error
            out[p.item_id] = p.raw_text
    return out


@pytest.fixture(scope="module")
def items(yesno_file):
    return YesNoFileDataset(str(yesno_file)).load()


@pytest.mark.parametrize("family", ["llava15", "llava16"])
def test_batched_equals_batch_size_one(family, tiny_checkpoints, items):
    model = LlavaModel(name=f"tiny_{family}", path=str(tiny_checkpoints[family]), family=family, device="cpu")
    single = _texts(items, model, batch_size=1)
    batched = _texts(items, model, batch_size=8)
    unsorted = _texts(items, model, batch_size=5, sort=False)
    assert len(single) == len(items)
    assert batched == single
    assert unsorted == single
    # The random tiny model must say different things, or the comparison proves nothing.
    assert len(set(single.values())) > 3


def test_llava16_batch_mixes_tile_counts(tiny_checkpoints, items):
    model = LlavaModel(name="t", path=str(tiny_checkpoints["llava16"]), family="llava16", device="cpu")
    from evalkit.images import load_image

    prepared = [model.prepare(load_image(item.image), item.text_for_prompt) for item in items[::2]]
    tiles = {x.pixel_values.shape[0] for x in prepared}
    lengths = {x.input_ids.shape[0] for x in prepared}
    assert len(tiles) > 1 and len(lengths) > 1  # the parity test above really mixes shapes
    batch = model.collate(prepared)
    assert batch["pixel_values"].shape[1] == max(tiles)
    # Left padding: the last column is never padding, the first is padding for shorter rows.
    assert bool(batch["attention_mask"][:, -1].all())
    assert not bool(batch["attention_mask"][:, 0].all())


def test_length_estimate_matches_processor(tiny_checkpoints, items):
    from evalkit.images import load_image
    from evalkit.runner import estimate_lengths

    for family in ("llava15", "llava16"):
        model = LlavaModel(name="t", path=str(tiny_checkpoints[family]), family=family, device="cpu")
        estimated = estimate_lengths(items, model)
        actual = [model.prepare(load_image(i.image), i.text_for_prompt).input_ids.shape[0] for i in items]
        assert estimated == actual


def test_plan_batches_sorts_longest_first_and_covers_everything():
    lengths = [5, 9, 1, 9, 3, 7, 2]
    batches = plan_batches(lengths, 3)
    assert batches == [[1, 3, 5], [0, 4, 6], [2]]
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert plan_batches(lengths, 3, sort_by_length=False) == [[0, 1, 2], [3, 4, 5], [6]]


def test_dataloader_workers_give_identical_predictions(tiny_checkpoints, items):
    model = LlavaModel(name="t", path=str(tiny_checkpoints["llava16"]), family="llava16", device="cpu")
    in_process = {}
    for predictions, _ in iterate_predictions(items, model, GREEDY, 4, num_workers=0):
        in_process.update({p.item_id: p.raw_text for p in predictions})
    with_workers = {}
    for predictions, _ in iterate_predictions(items, model, GREEDY, 4, num_workers=2):
        with_workers.update({p.item_id: p.raw_text for p in predictions})
    assert with_workers == in_process


@pytest.mark.parametrize("family", ["llava15", "llava16"])
def test_batched_equals_batch_size_one_on_multi_token_outputs(family, tiny_checkpoints, items):
    """Open-ended answers (captions): rows of one batch finish at different steps, the finished
    ones are padded while the others go on; every text still equals its batch-size-1 text."""
    model = LlavaModel(name=f"tiny_{family}", path=str(tiny_checkpoints[family]), family=family, device="cpu")
    long_greedy = Greedy(max_new_tokens=20)
    subset = items[:6]

    def texts(batch_size):
        out = {}
        for predictions, _ in iterate_predictions(subset, model, long_greedy, batch_size):
            out.update({p.item_id: p.raw_text for p in predictions if p.error is None})
        return out

    single, batched = texts(1), texts(6)
    assert len(single) == len(subset) and batched == single
    lengths = [len(model.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in single.values()]
    assert max(lengths) >= 10 and len(set(lengths)) > 1  # long outputs, of different lengths
