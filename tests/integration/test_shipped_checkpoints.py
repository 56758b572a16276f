"""The tiny checkpoints shipped in the package, loaded through the model configs exactly as a
user's `python -m evalkit model=tiny_llava15` loads them, on the synthetic `shapes` set."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from evalkit.config import PACKAGE_DIR, conf_dir, register_configs, validate
from evalkit.pipeline import load_items
from evalkit.runner import Decoding, iterate_predictions
from evalkit.scoring.parse import parse_answer

register_configs()


@pytest.mark.parametrize("name", ["tiny_llava15", "tiny_llava16"])
def test_shipped_checkpoint_answers_yes_no_and_batches_exactly(name):
    if not (PACKAGE_DIR / "checkpoints" / name / "config.json").is_file():
        pytest.skip(f"{name} not shipped in this checkout")
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        cfg = compose(config_name="config", overrides=[f"model={name}", "dataset.n_images=4"])
    validate(cfg)
    items = load_items(cfg.dataset, limit=24)
    model = instantiate(cfg.model, device="cpu", dtype="float32", _convert_="all")
    decoding = Decoding(max_new_tokens=8)
    single = {p.item_id: p.text for b, _ in iterate_predictions(items, model, decoding, 1) for p in b}
    batched = {p.item_id: p.text for b, _ in iterate_predictions(items, model, decoding, 8) for p in b}
    assert batched == single
    assert all(parse_answer(text, "strict") in ("yes", "no") for text in single.values()), single
    on_disk = sum(p.stat().st_size for p in (PACKAGE_DIR / "checkpoints" / name).iterdir())
    assert on_disk <= 10 * 2**20
