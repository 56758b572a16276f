"""Parity with the ORIGINAL LLaVA code (llava-torch 1.2.2.post1 in its own environment, see
evalkit/tools/parity_llava.py): on the tiny LLaVA-1.5 full, LLaVA-1.5 LoRA and LLaVA-1.6 full
checkpoints, evalkit's input ids and greedy answers equal the original evaluation path's and the
first-step logits agree to fp32 rounding. Runs only where LLAVA_PYTHON names that environment's
python (about 5 minutes on 2 CPU cores)."""

from __future__ import annotations

import os

import pytest

LLAVA_PYTHON = os.environ.get("LLAVA_PYTHON")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not LLAVA_PYTHON or not os.path.exists(LLAVA_PYTHON),
                                 reason="set LLAVA_PYTHON to the python of an environment with llava-torch")]


def test_answers_and_logits_equal_the_original_code(tmp_path):
    from evalkit.tools.parity_llava import run

    table = run(LLAVA_PYTHON, tmp_path, n_images=4, max_new_tokens=6)
    assert [row["checkpoint"] for row in table] == ["llava15", "llava15_lora", "llava16"]
    for row in table:
        assert row["ids_equal"] == row["n"] and row["answers_equal"] == row["n"], row
        assert row["max_logit_diff"] < 1e-4, row
    assert table[2]["tower_weights"] == "checkpoint"  # LLaVA-1.6's tuned tower, as the original uses it
