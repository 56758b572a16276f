"""`model.adapter=PATH`: a PEFT adapter (LoRA trained on a llava-hf model) merged at load.

The adapter is applied with PEFT itself (`PeftModel.from_pretrained(...).merge_and_unload()`), so
the merged weights are the ones PEFT's own inference gives; the merged model then runs the usual
path (feature cache, batching) with no PEFT wrapper left around it.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.errors import ConfigError

INSTALL_HINT = "pip install peft (or pip install 'evalkit[convert]')"


def check_adapter(path: str) -> None:
    """Before any model loads: peft is importable and PATH is an adapter directory."""
    try:
        import peft  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"model.adapter={path} needs peft, which is not installed: {INSTALL_HINT}") from exc
    directory = Path(path)
    if directory.is_dir() and not (directory / "adapter_config.json").is_file():
        raise ConfigError(f"model.adapter={path}: no adapter_config.json there (a PEFT adapter directory has one)")
    if not directory.is_dir() and (path.startswith(("/", ".")) or path.count("/") != 1):
        raise ConfigError(f"model.adapter={path} is neither a local directory nor a hub id")


def merge_adapter(model, path: str):
    check_adapter(path)
    from peft import PeftModel

    config = _adapter_config(path)
    if config.get("peft_type", "LORA") != "LORA" or config.get("use_dora"):
        raise ConfigError(f"model.adapter={path}: only LoRA adapters are merged (peft_type "
                          f"{config.get('peft_type')!r}, use_dora {config.get('use_dora')!r})")
    if config.get("loftq_config") or "bnb" in str(config).lower():
        raise ConfigError(f"model.adapter={path}: a quantised LoRA; merging it into unquantised weights "
                          "does not give the model it was trained against")
    merged = PeftModel.from_pretrained(model, path).merge_and_unload()
    return merged.eval()


def _adapter_config(path: str) -> dict:
    import json

    local = Path(path) / "adapter_config.json"
    return json.loads(local.read_text()) if local.is_file() else {}
