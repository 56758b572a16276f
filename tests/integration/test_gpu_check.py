"""evalkit.tools.gpu_check: the full-size configs are LLaVA-1.5-7B / 1.6-7B (parameter counts of
llava-hf's checkpoints, counted on the meta device), the real-sized tokenizer has llava-hf's ids,
the reduced-size check runs end to end on the CPU (both models, fp16 and bf16, the cache rows and
the answer comparison), and a failing cell is recorded instead of stopping the check."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaNextConfig, LlavaNextForConditionalGeneration

from evalkit.tools import full_size, gpu_check


@pytest.mark.parametrize("family,cls,config_cls,expected", [
    ("llava15", LlavaForConditionalGeneration, LlavaConfig, 7_063_427_072),  # llava-hf/llava-1.5-7b-hf
    ("llava16", LlavaNextForConditionalGeneration, LlavaNextConfig, 7_063_427_072 + 4096),  # + image_newline
])
def test_full_size_configs_have_the_checkpoints_parameters(family, cls, config_cls, expected):
    with torch.device("meta"):
        model = cls._from_config(config_cls(**full_size.config_dict(family)), dtype=torch.float16)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_real_sized_tokenizer_has_llava_hf_ids():
    tok = full_size.real_sized_tokenizer()
    assert len(tok) == 32002 and tok.convert_tokens_to_ids("<image>") == 32000 and tok.pad_token_id == 32001
    ids = tok("USER: <image>\nIs there a red circle in the image? ASSISTANT:")["input_ids"]
    assert ids[0] == tok.bos_token_id and 32000 in ids and len(ids) < 30  # words, not bytes


def _check_report(out, families: list[str]) -> None:
    report = json.loads((out / "gpu_check.json").read_text())
    assert [m["family"] for m in report["models"]] == families
    for model in report["models"]:
        cells = {(c["dtype"], c["batch_size"], c["cache"]): c for c in model["cells"]}
        assert set(cells) == {("fp16", 1, "-"), ("fp16", 2, "-"), ("fp16", 2, "feat"), ("fp16", 2, "feat+pfx"),
                              ("bf16", 1, "-"), ("bf16", 2, "-")}
        ran = [c for c in cells.values() if "skipped" not in c]
        assert ran and all(c["error"] is None and c["items_per_s"] > 0 and c["n_items"] == 2 for c in ran)
        assert model["answers_differ_bs1_vs_bs2_fp16"]["of"] == 2
        assert model["speedup_feat+pfx_bs2_fp16"]["answers_same"] == "2/2"  # the cache never changes answers
    table = (out / "gpu_check.md").read_text()
    assert all(f"| {m['model']} | bf16 | 2 | - |" in table for m in report["models"])


SMALL = ["--items", "2", "--questions-per-image", "1", "--batch-sizes", "1", "2", "--compare-bs", "2",
         "--max-new-tokens", "2"]


def test_tiny_check_runs_end_to_end(tmp_path):
    # LLaVA-1.5 only here: CPU half precision over LLaVA-1.6's ~2,400-token prompts takes ~1 s an item.
    assert gpu_check.main(["--tiny", "--out", str(tmp_path), "--models", "llava15", *SMALL]) == 0
    _check_report(tmp_path, ["llava15"])


@pytest.mark.slow
def test_tiny_check_command_both_models(tmp_path):
    subprocess.run([sys.executable, "-m", "evalkit.tools.gpu_check", "--tiny", "--out", str(tmp_path), *SMALL],
                   check=True, timeout=600, capture_output=True)
    _check_report(tmp_path, ["llava15", "llava16"])


def test_a_failing_cell_is_recorded(monkeypatch, tmp_path):
    tok = full_size.real_sized_tokenizer()
    model = full_size.build("llava15", full_size.write_model_dir("llava15", tmp_path, tok, tiny=True), "cpu", "float32")

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(gpu_check, "iterate_predictions", out_of_memory)
    cell = gpu_check.run_cell(model, [], 32, "-", 2, cell_s=10)
    assert cell["error"].startswith("OutOfMemoryError: CUDA out of memory") and cell["items_per_s"] is None
