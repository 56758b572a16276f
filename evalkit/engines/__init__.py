"""Engines: what generates a run's answers (the `engine` config group, docs/engines.md).

`hf` is the model itself (transformers in this process, the reference); `vllm` and `openai` are a
ServedModel in its place. `check_supported` refuses, before anything loads, the settings a served
engine cannot honour; `build_model` builds the model or the served engine (starting vLLM's server
for `vllm`), which `close_model` stops when the run ends.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping, Optional

from evalkit.config import EngineConfig
from evalkit.errors import ConfigError

# Decoding methods a served engine runs (their class names): greedy without beams, seeded
# sampling, and the log-prob readers. Contrastive decoders need every step's logits of two inputs.
SERVED_METHODS = ("Greedy", "Sample", "YesNoLogits", "ChoiceLogits")
# Model settings the server cannot be given per request; the checkpoint's own values are served.
MODEL_KEYS_REFUSED = ("vision_feature_layer", "vision_feature_select_strategy", "image_grid_pinpoints", "base",
                      "vision_tower", "adapter")


def is_served(engine: Optional[EngineConfig]) -> bool:
    return engine is not None and engine.kind != "hf"


def check_supported(engine: Optional[EngineConfig], model: Mapping[str, Any], decoding) -> None:
    """Refuse, with the reason, what `engine` cannot run (before any model or server starts)."""
    if not is_served(engine):
        return
    kind = engine.kind
    method = type(decoding).__name__
    if method not in SERVED_METHODS:
        raise ConfigError(f"engine={kind} cannot run decoding={decoding.name}: it needs the logits of every step "
                          f"(and of a second, negative input) inside the model; served engines run "
                          f"greedy, sample, yesno_logits and choice_logits. Use engine=hf.")
    if getattr(decoding.settings, "num_beams", 1) != 1:
        raise ConfigError(f"engine={kind}: decoding.num_beams={decoding.settings.num_beams} is not offered "
                          "(vLLM's beam search is not transformers'); use engine=hf")
    # evalkit's feature cache is speed-only and on by default: a served engine has its own (vLLM's
    # prefix and multimodal caches), so it is left unused; only an explicit disk cache is refused.
    cache = model.get("feature_cache") or {}
    if cache.get("enabled") and cache.get("disk_dir"):
        raise ConfigError(f"engine={kind}: model.feature_cache.disk_dir stores evalkit's in-process vision features; "
                          "a served engine computes them in the server (vLLM caches its own). Unset it.")
    for key in MODEL_KEYS_REFUSED:
        if model.get(key) not in (None, [], ""):
            raise ConfigError(f"engine={kind}: model.{key} cannot be applied by the server; serve a checkpoint "
                              f"that has it (e.g. converted with python -m evalkit.convert) or use engine=hf")


def build_model(model_cfg: Mapping[str, Any], engine: EngineConfig, dtype: str, log_dir: Optional[Path] = None,
                label: str = "rank0", device: str = "cpu"):
    """A ServedModel for `engine` (vllm: its server started here, one per process)."""
    from evalkit.engines.served import ServedModel

    common = dict(name=model_cfg["name"], family=model_cfg.get("family"), prompt=model_cfg.get("prompt", "llava_eval"),
                  image_aspect_ratio=model_cfg.get("image_aspect_ratio"), revision=model_cfg.get("revision"),
                  engine=engine.kind, concurrency=engine.concurrency, top_logprobs=engine.top_logprobs,
                  check_prompt=engine.check_prompt, request_timeout_s=engine.request_timeout_s)
    if engine.kind == "openai":
        model = ServedModel(path=model_cfg["path"], served_model=engine.model, base_url=engine.base_url,
                            api_key_env=engine.api_key_env, **common)
        model.client.check(engine.model, role="engine")  # unreachable, or another model: one line, before any item
        return model
    server = start_vllm(model_cfg, engine, dtype, log_dir, label, device)
    try:
        return ServedModel(path=model_cfg["path"], served_model=server.served_name, base_url=server.base_url,
                           server=server, **common)
    except BaseException:
        server.stop()
        raise


def server_gpus(device: str, tensor_parallel_size: int) -> dict:
    """The server's CUDA_VISIBLE_DEVICES: under `accelerate launch` each rank's server gets its own
    GPU(s) (rank device cuda:i -> GPUs i*tp .. i*tp+tp-1 of those visible), not all of them."""
    if not device.startswith("cuda:"):
        return {}
    import os

    import torch

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [v.strip() for v in visible.split(",")] if visible else [str(i) for i in range(torch.cuda.device_count())]
    first = int(device.split(":")[1]) * tensor_parallel_size
    chosen = ids[first:first + tensor_parallel_size]
    if len(chosen) < tensor_parallel_size:
        raise ConfigError(f"engine.tensor_parallel_size={tensor_parallel_size} on {device}: only {len(ids)} GPUs "
                          "visible; run one process per node (or per tensor_parallel_size GPUs)")
    return {"CUDA_VISIBLE_DEVICES": ",".join(chosen)}


def start_vllm(model_cfg: Mapping[str, Any], engine: EngineConfig, dtype: str, log_dir: Optional[Path], label: str,
               device: str = "cpu"):
    from evalkit.serving.vllm_server import VllmServer, hub_layout
    from evalkit.models.original import default_cache_dir

    path = hub_layout(str(model_cfg["path"]), default_cache_dir().parent / "hub_layout")
    server = VllmServer(
        python=engine.python or sys.executable, model_path=path, served_name=engine.model or model_cfg["name"],
        dtype=_served_dtype(dtype), max_model_len=engine.max_model_len,
        tensor_parallel_size=engine.tensor_parallel_size, gpu_memory_utilization=engine.gpu_memory_utilization,
        # The checkpoint's generation_config.json would set default sampling values; evalkit sets its own.
        extra_args=["--generation-config", "vllm", "--max-logprobs", str(max(20, engine.top_logprobs)),
                    *engine.extra_args],
        log_file=(Path(log_dir) / f"vllm-server-{label}.log") if log_dir else None,
        startup_timeout_s=engine.startup_timeout_s, env=server_gpus(device, engine.tensor_parallel_size))
    return server.start()


def _served_dtype(dtype: str) -> str:
    """`dtype` as engine=hf resolves it (evalkit.models.records): auto is fp16 on a GPU, fp32 on CPU."""
    if dtype != "auto":
        return dtype
    import torch

    return "float16" if torch.cuda.is_available() else "float32"


def close_model(model) -> None:
    close = getattr(model, "close", None)
    if callable(close):
        close()
