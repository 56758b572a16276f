"""The checkpoints users train, end to end: a LoRA output of LLaVA's own training and its base
evaluate with one command (converted once, cached by content), `python -m evalkit.convert` writes
the cache's directory byte for byte, and `model.adapter=` merges a PEFT adapter trained on a llava-hf
model at load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

pytest.importorskip("sentencepiece")

from evalkit.tools.tiny_original import save_all


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, cwd=cwd,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_lora_and_base_evaluate_with_one_command(yesno_file, tmp_path):
    originals = save_all(tmp_path / "original")
    common = ["dataset=yesno", f"dataset.path={yesno_file}", "decoding.max_new_tokens=4", "batch_size=4",
              "device=cpu", "progress=false", "limit=6"]
    run_cli(["model=llava15", "model.name=tiny-lora", f"model.path={originals['llava15_lora']}",
             f"model.base={originals['llava15']}", f"model.convert_cache={tmp_path / 'cache'}",
             f"output_dir={tmp_path / 'run'}", *common], cwd=tmp_path)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["model"]["converted_from"]["source"] == str(originals["llava15_lora"])
    assert summary["model"]["family"] == "llava15" and summary["model"]["image_aspect_ratio"] == "pad"
    (converted,) = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]  # one conversion, keyed by content (beside keys.json)

    rows = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(row["error"] is None for row in rows)

    from evalkit.convert import main as convert_cli  # the directory users ask for is the cache's, byte for byte

    assert convert_cli([str(originals["llava15_lora"]), str(tmp_path / "hf"), "--base", str(originals["llava15"])]) == 0
    for name in ("model.safetensors", "config.json", "tokenizer.json", "processor_config.json"):
        assert (tmp_path / "hf" / name).read_bytes() == (converted / name).read_bytes(), name


def test_peft_adapter_is_merged_at_load(tiny_checkpoints, tmp_path):
    peft = pytest.importorskip("peft")
    from evalkit.models.llava import LlavaModel

    path = tiny_checkpoints["llava15"]
    plain = LlavaModel(name="x", path=str(path), device="cpu", feature_cache={"enabled": False})
    torch.manual_seed(0)
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    trained = peft.get_peft_model(plain.model, config)  # an adapter as PEFT training saves it
    adapter = tmp_path / "adapter"
    trained.save_pretrained(adapter)

    batch = plain.collate([plain.prepare(Image.new("RGB", (60, 40), c), "Is there a circle?") for c in ("red", "blue")])
    with torch.inference_mode():
        peft_logits = trained(**plain._model_inputs(batch)).logits[:, -1]  # PEFT's own (unmerged) forward
    merged = LlavaModel(name="x", path=str(path), device="cpu", adapter=str(adapter), feature_cache={"enabled": False})
    ours = merged.start(batch).logits
    torch.testing.assert_close(ours, peft_logits, atol=1e-4, rtol=1e-4)
    fresh = LlavaModel(name="x", path=str(path), device="cpu", feature_cache={"enabled": False})
    assert (fresh.start(batch).logits - ours).abs().max() > 1e-2  # the adapter changes the answers' logits
    assert merged.describe()["adapter"] == str(adapter)
