"""Preprocessing ahead of the model: batches prepared by forked DataLoader workers hold the very
pixels and ids the inline path makes (both families, feature cache on and off), a broken image is
still an error row in its place, and `num_workers=auto` resolves from the cores."""

from __future__ import annotations

import pytest
import torch

from datasets_adapters.yesno_files import YesNoFileDataset
from evalkit.config import Config
from evalkit.decoding.greedy import Greedy
from evalkit.errors import ConfigError
from evalkit.models.llava import LlavaModel
from evalkit.runner import _PreparedBatches, iterate_predictions, plan
from evalkit.types import Item
from evalkit.workers import resolve_workers


@pytest.fixture(scope="module")
def items(yesno_file):
    return YesNoFileDataset(str(yesno_file)).load()


def _prepared(items, model, workers: int):
    batches = plan(items, model, 3)
    loader = torch.utils.data.DataLoader(_PreparedBatches(items, batches, model), batch_size=None,
                                         num_workers=workers, collate_fn=lambda b: b,
                                         multiprocessing_context="fork" if workers else None)
    return [row for batch in loader for row in batch]


@pytest.mark.parametrize("family", ["llava15", "llava16"])
@pytest.mark.parametrize("cache", [False, True])
def test_worker_pixels_and_ids_are_bit_identical(family, cache, tiny_checkpoints, items):
    model = LlavaModel(name="t", path=str(tiny_checkpoints[family]), family=family, device="cpu",
                       feature_cache={"enabled": cache})
    inline, forked = _prepared(items, model, 0), _prepared(items, model, 2)
    assert [item.id for item, _ in forked] == [item.id for item, _ in inline]
    for (_, a), (_, b) in zip(inline, forked):
        assert torch.equal(a.input_ids, b.input_ids)
        assert a.image.pixel_values.dtype == b.image.pixel_values.dtype
        assert torch.equal(a.image.pixel_values, b.image.pixel_values)  # not a pixel differs
        assert a.image.key == b.image.key
        if family == "llava16":
            assert torch.equal(a.image.image_size, b.image.image_size)


def test_broken_image_is_an_error_row_in_place_with_workers(tmp_path, tiny_checkpoints, items):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    run = [*items[:3], Item(id="bad", image=str(broken), question="Is it?", answer="yes"), *items[3:6]]
    model = LlavaModel(name="t", path=str(tiny_checkpoints["llava15"]), family="llava15", device="cpu")
    greedy = Greedy(max_new_tokens=4)

    def predictions(workers):
        return [(p.item_id, p.text, p.error) for batch, _ in iterate_predictions(run, model, greedy, 2,
                                                                                   num_workers=workers)
                for p in batch]

    inline, forked = predictions(0), predictions(2)
    assert forked == inline
    errors = [e for item_id, _, e in forked if item_id == "bad"]
    assert len(errors) == 1 and errors[0] and "bad" not in [i for i, _, e in forked if not e]
    assert sum(e is None for _, _, e in forked) == 6


@pytest.mark.parametrize("setting, cores, expected", [
    ("auto", 1, 0), ("auto", 2, 1), ("auto", 3, 2), ("auto", 16, 4), ("0", 16, 0), (3, 1, 3), ("2", 2, 2),
])
def test_auto_workers_use_the_spare_cores(setting, cores, expected, monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert resolve_workers(setting, cores=cores) == expected


def test_ranks_on_one_machine_split_its_cores(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert resolve_workers("auto", cores=16) == 4
    assert resolve_workers("auto", cores=4) == 1
    assert resolve_workers("auto", cores=2) == 0


def test_num_workers_config_accepts_auto_or_a_count():
    assert Config.__dataclass_fields__["num_workers"].default == "auto"
    with pytest.raises(ConfigError, match="num_workers must be auto or an integer"):
        Config(model=None, dataset=None, decoding=None, num_workers="autp")
    with pytest.raises(ConfigError, match="num_workers"):
        Config(model=None, dataset=None, decoding=None, num_workers="-1")
