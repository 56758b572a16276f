"""The vLLM rows of `python -m evalkit.tools.gpu_check --vllm-python PY`: the same random full-size
weights the transformers cells ran, saved in llava-hf's hub layout and served by vLLM's
OpenAI-compatible server (evalkit.serving.vllm_server), through the same runner path
(`iterate_predictions`, greedy) at `--compare-bs` requests in flight. Per row: items/s, the
server's start-up, and the answers equal to the transformers cell of the same dtype and batch
(random weights babble for --max-new-tokens steps, so this compares long answers token for token).
Errors are recorded, never raised: the rest of the check still runs."""

from __future__ import annotations

import time
from pathlib import Path

from evalkit.decoding.greedy import Greedy
from evalkit.runner import iterate_predictions


def vllm_row(hf_model, model_dir: Path, items, dtype: str, batch_size: int, max_new_tokens: int, python: str,
             hf_answers: dict) -> dict:
    from evalkit.engines.served import ServedModel
    from evalkit.serving.vllm_server import VllmServer, hub_layout

    row = {"engine": "vllm", "dtype": dtype, "batch_size": batch_size, "error": None}
    server = None
    try:
        hf_model.model.save_pretrained(model_dir)  # the random weights the transformers cells ran
        hf_model.model.to("cpu")  # the GPU's memory to vLLM
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        path = hub_layout(str(model_dir), model_dir.parent / "hub_layout")
        started = time.perf_counter()
        server = VllmServer(python=python, model_path=path, served_name="check", dtype=dtype,
                            extra_args=["--generation-config", "vllm"], log_file=model_dir.parent / "vllm.log").start()
        row["server_start_s"] = round(time.perf_counter() - started, 1)
        served = ServedModel(name="check", path=str(model_dir), served_model="check", base_url=server.base_url,
                             engine="vllm", concurrency=batch_size, family=hf_model.family)
        answers: dict[str, str] = {}
        t0 = time.perf_counter()
        for predictions, _ in iterate_predictions(items, served, Greedy(max_new_tokens=max_new_tokens), batch_size):
            for p in predictions:
                row["error"] = row["error"] or p.error
                answers[p.item_id] = p.text
        wall = time.perf_counter() - t0
        row.update(n_items=len(answers), wall_s=round(wall, 3), items_per_s=round(len(answers) / wall, 3),
                   same_as_hf=f"{sum(answers.get(k) == v for k, v in hf_answers.items())}/{len(hf_answers)}")
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    finally:
        if server is not None:
            server.stop()
    return row
