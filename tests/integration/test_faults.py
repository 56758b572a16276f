"""Bad input and faults: every kind of broken or unusual image ends as the right row, and an
out-of-memory batch is halved and retried instead of aborting the run."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import torch
from PIL import Image

from evalkit.images import image_size, load_image
from evalkit.models.llava import LlavaModel
from evalkit.decoding.greedy import Greedy
from evalkit.runner import iterate_predictions

GREEDY = Greedy(max_new_tokens=3)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def broken_and_unusual_images(root: Path) -> dict[str, tuple[str, bool]]:
    """name -> (file, should_fail)."""
    base = Image.radial_gradient("L").resize((320, 200)).convert("RGB")
    files: dict[str, tuple[str, bool]] = {}

    def save(name, image, fmt="PNG", fail=False, **kwargs):
        path = root / f"{name}.{fmt.lower()}"
        image.save(path, format=fmt, **kwargs)
        files[name] = (path.name, fail)

    save("rgb", base)
    save("mode_L", base.convert("L"))
    save("mode_LA", base.convert("LA"))
    save("mode_P", base.convert("P"))
    save("mode_RGBA", base.convert("RGBA"))
    save("mode_CMYK", base.convert("CMYK"), fmt="JPEG")
    import numpy as np

    ramp = (np.linspace(0, 65535, 200 * 320).reshape(320, 200)).astype(np.uint16)
    save("mode_I16", Image.fromarray(ramp))  # uint16 -> mode I;16
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display: stored 320x200, shown 200x320
    save("exif_rotated", base, fmt="JPEG", exif=exif.tobytes())
    (root / "zero_byte.png").write_bytes(b"")
    files["zero_byte"] = ("zero_byte.png", True)
    (root / "truncated.png").write_bytes(_png(base)[:300])
    files["truncated"] = ("truncated.png", True)
    (root / "not_an_image.png").write_text("hello")
    files["not_an_image"] = ("not_an_image.png", True)
    files["missing"] = ("does_not_exist.png", True)
    save("huge", Image.new("RGB", (3000, 3000)), fail=True)  # over the bomb limit set in the test
    return files


def test_exif_rotation_and_modes_load_as_rgb(tmp_path):
    files = broken_and_unusual_images(tmp_path)
    rotated = load_image(tmp_path / files["exif_rotated"][0])
    assert rotated.size == (200, 320) and image_size(tmp_path / files["exif_rotated"][0]) == (320, 200)
    for name in ("mode_L", "mode_LA", "mode_P", "mode_RGBA", "mode_CMYK", "mode_I16"):
        image = load_image(tmp_path / files[name][0])
        assert image.mode == "RGB", name
    assert max(load_image(tmp_path / files["mode_I16"][0]).getextrema()[0]) > 200  # scaled, not clipped


def test_broken_images_become_error_rows_and_the_run_completes(tiny_checkpoints, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4_000_000)  # 3000x3000 is over twice the limit
    files = broken_and_unusual_images(tmp_path)
    rows = [{"id": name, "image": file, "question": "Is there a circle?", "answer": "yes"}
            for name, (file, _) in files.items()]
    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))

    from datasets_adapters.yesno_files import YesNoFileDataset

    items = YesNoFileDataset(str(data)).load()
    model = LlavaModel(name="t", path=str(tiny_checkpoints["llava15"]), family="llava15", device="cpu")
    predictions = {p.item_id: p for batch, _ in iterate_predictions(items, model, GREEDY, 4) for p in batch}
    assert set(predictions) == set(files)
    for name, (_, should_fail) in files.items():
        error = predictions[name].error
        assert (error is not None) == should_fail, (name, error)
    assert "FileNotFoundError" in predictions["missing"].error
    assert "DecompressionBomb" in predictions["huge"].error
    assert "UnidentifiedImageError" in predictions["zero_byte"].error


def test_cli_counts_error_rows_in_summary(tiny_checkpoints, tmp_path):
    files = broken_and_unusual_images(tmp_path)
    rows = [{"id": name, "image": file, "question": "Is there a circle?", "answer": "yes"}
            for name, (file, _) in files.items() if name in ("rgb", "missing", "truncated", "mode_P")]
    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "evalkit", "model=tiny_llava15", f"model.path={tiny_checkpoints['llava15']}",
         "dataset=yesno", f"dataset.path={data}", f"output_dir={out}", "decoding.max_new_tokens=3", "progress=false"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_errors"] == 2 and summary["metrics"]["n_errors"] == 2
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    errors = {r["id"]: r for r in predictions if r["error"]}
    assert set(errors) == {"missing", "truncated"}
    assert all(r["correct"] is False and r["parsed"] is None for r in errors.values())


class OOMOverTwo:
    """Wraps a real model; generate() raises CUDA's OOM error for batches above `limit` rows and
    for one poisoned item whatever the batch size."""

    def __init__(self, model, limit=2, poisoned_length=None):
        self.model, self.limit, self.poisoned_length, self.calls = model, limit, poisoned_length, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def generate(self, batch, **kwargs):
        rows = batch["input_ids"].shape[0]
        self.calls.append(rows)
        lengths = batch["attention_mask"].sum(1).tolist()
        if rows > self.limit or (self.poisoned_length in lengths):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.model.generate(batch, **kwargs)


def test_out_of_memory_halves_the_batch(tiny_checkpoints, yesno_file):
    from datasets_adapters.yesno_files import YesNoFileDataset

    items = YesNoFileDataset(str(yesno_file)).load()
    model = LlavaModel(name="t", path=str(tiny_checkpoints["llava15"]), family="llava15", device="cpu")
    expected = {p.item_id: p.raw_text for b, _ in iterate_predictions(items, model, GREEDY, 1) for p in b}

    flaky = OOMOverTwo(model, limit=2)
    stats: dict = {}
    got = {p.item_id: p for b, _ in iterate_predictions(items, flaky, GREEDY, 8, stats=stats) for p in b}
    assert {k: p.raw_text for k, p in got.items()} == expected
    assert flaky.calls[:3] == [8, 4, 2]  # 8 fails, 4 fails, 2 fits
    assert max(p.batch_size for p in got.values()) == 2 and stats["oom_splits"] > 0


def test_item_that_never_fits_becomes_an_error_row(tiny_checkpoints, yesno_file):
    from datasets_adapters.yesno_files import YesNoFileDataset

    items = YesNoFileDataset(str(yesno_file)).load()[:4]
    model = LlavaModel(name="t", path=str(tiny_checkpoints["llava15"]), family="llava15", device="cpu")
    poisoned = model.prepare(load_image(items[2].image), items[2].text_for_prompt).input_ids.shape[0]
    distinct = [i for i in items if model.prepare(load_image(i.image), i.text_for_prompt).input_ids.shape[0] != poisoned]
    got = {p.item_id: p for b, _ in iterate_predictions(items, OOMOverTwo(model, 8, poisoned), GREEDY, 4) for p in b}
    assert len(got) == 4
    failed = {k for k, p in got.items() if p.error}
    assert failed == {i.id for i in items} - {i.id for i in distinct}
    assert all("OutOfMemoryError" in got[k].error for k in failed)
