"""Image-feature cache: the vision tower + projector output of one image, computed once and reused
for every question about it (POPE asks 6 per image, MME 2).

A key is a content hash of the decoded image joined with a fingerprint of everything else that
decides the features: the vision tower and projector weights (sampled sums, so a fine-tune or a
different checkpoint never hits), the feature layer, select strategy, pinpoints, aspect mode, the
image processor settings, dtype and device type. Nothing in the key is a file path, so the same
weights under another path share entries and a reused path with new weights does not.

Two tiers:
- memory: a bounded LRU of tensors on the model's device (the questions about one image are planned
  next to each other, so a few dozen entries cover a run; each LLaVA-NeXT-7B entry is ~24 MB in fp16);
- disk (optional): one safetensors file per key, written to a temporary name and renamed, so runs
  and processes can share one folder; an unreadable or foreign file counts as a miss.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import hashlib
import json
import logging
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from PIL import Image

from evalkit.errors import ConfigError, build_settings
from evalkit.fileio import write_atomic

if TYPE_CHECKING:  # torch is imported where it is used: evalkit.config reads the schema below, and
    import torch  # the torch-free CLIs (report, score) import the config without loading torch (1.3 s)

log = logging.getLogger(__name__)


@dataclass
class FeatureCacheConfig:
    """Vision features computed once per image and reused for every question about it; answers
    are identical to the uncached path (tested). Keys hash the decoded pixels and every setting
    that changes the features, never the file path, so a disk cache is safe to share."""

    enabled: bool = True
    max_items: int = 32  # images kept in memory (LRU)
    disk_dir: Optional[str] = None  # also persist features here (content-hash files)
    share_prefix: bool = True  # run the prompt up to the image once per image, then each question

    def __post_init__(self):
        if self.max_items < 1:
            raise ConfigError(f"model.feature_cache.max_items must be >= 1, got {self.max_items}")


def cache_settings(options: Optional[Mapping[str, Any]]) -> dict:
    """`feature_cache` constructor argument -> full settings. A mapping changes the schema's
    defaults (FeatureCacheConfig, model.feature_cache: a run's cache is on unless it says
    otherwise); None is no cache, so a LlavaModel built directly (tests, tools) starts uncached.
    Unknown keys and bad values are refused by the schema."""
    options = {"enabled": False} if options is None else dict(options)
    return dataclasses.asdict(build_settings(FeatureCacheConfig, "model.feature_cache", options))


def image_digest(image: Image.Image) -> str:
    """Hash of the decoded pixels (after EXIF rotation and RGB conversion), so the same picture
    reached through a path, bytes or an in-memory image gets one key."""
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def weights_fingerprint(modules: Mapping[str, Any]) -> list:
    """Cheap identity of the weights that produce image features: per tensor its name, shape,
    dtype, float64 sum and abs-sum (a reduction, fast on GPU; hashing 300M parameters is not)."""
    import torch
    out = []
    for prefix, module in modules.items():
        if module is None:
            continue
        tensors = [(prefix, module)] if isinstance(module, torch.Tensor) else \
            [(f"{prefix}.{n}", p) for n, p in module.named_parameters()]
        for name, tensor in tensors:
            t = tensor.detach()
            out.append([name, list(t.shape), str(t.dtype).removeprefix("torch."),
                        f"{t.double().sum().item():.10g}", f"{t.double().abs().sum().item():.10g}"])
    return out


def feature_settings(model) -> dict:
    """Everything besides the image that decides a LlavaModel's image features (the key's other
    half): vision config and weights, feature layer and strategy, preprocessing, dtype, device."""
    import torch
    import transformers

    hf, config = model.model.model, model.config
    vision = {k: v for k, v in config.vision_config.to_dict().items()
              if not k.startswith("_") and k not in ("transformers_version", "architectures", "name_or_path")}
    out = {
        "family": model.family,
        "vision_config": vision,
        "attn": getattr(config.vision_config, "_attn_implementation", None),
        "projector_hidden_act": getattr(config, "projector_hidden_act", None),
        "vision_feature_layer": config.vision_feature_layer,
        "vision_feature_select_strategy": config.vision_feature_select_strategy,
        "image_processor": model.processor.image_processor.to_dict(),
        "images_kwargs": model._images_kwargs,
        "dtype": str(model.dtype),
        "device_type": model.device.type,
        "versions": [torch.__version__, transformers.__version__],  # kernels change low bits
        "weights": weights_fingerprint({"vision_tower": hf.vision_tower, "projector": hf.multi_modal_projector,
                                        "image_newline": getattr(hf, "image_newline", None)}),
    }
    if model.family == "llava16":
        out["image_grid_pinpoints"] = config.image_grid_pinpoints
    else:
        out["image_aspect_ratio"] = model.image_aspect_ratio  # the key hashes the image before padding
    return out


def settings_digest(settings: Mapping[str, Any]) -> str:
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.blake2b(blob, digest_size=20).hexdigest()


class FeatureCache:
    def __init__(self, settings_key: str, max_items: int, disk_dir: Optional[str] = None,
                 device: torch.device | str = "cpu"):
        import torch

        self.settings_key, self.max_items, self.device = settings_key, int(max_items), torch.device(device)
        self.disk_dir = Path(disk_dir).expanduser() if disk_dir else None
        self._memory: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.counters = {"memory_hits": 0, "disk_hits": 0, "misses": 0, "disk_writes": 0}

    def key(self, image: Image.Image) -> str:
        return hashlib.blake2b(f"{self.settings_key}:{image_digest(image)}".encode(), digest_size=20).hexdigest()

    def get(self, key: str, count_miss: bool = True) -> Optional[torch.Tensor]:
        """Features [n_image_tokens, hidden] for `key`, or None. A disk hit is kept in memory.
        `count_miss=False` for a second look at a key whose miss was already counted."""
        features = self._memory.get(key)
        if features is not None:
            self._memory.move_to_end(key)
            self.counters["memory_hits"] += 1
            return features
        features = self._read(key)
        if features is None:
            self.counters["misses"] += count_miss
            return None
        self.counters["disk_hits"] += 1
        self._remember(key, features)
        return features

    def put(self, key: str, features: torch.Tensor) -> None:
        self._remember(key, features)
        if self.disk_dir is not None and not self._path(key).is_file():
            self._write(key, features)

    def __len__(self) -> int:
        return len(self._memory)

    def _remember(self, key: str, features: torch.Tensor) -> None:
        self._memory[key] = features
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_items:
            self._memory.popitem(last=False)

    # -- disk ------------------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        assert self.disk_dir is not None
        return self.disk_dir / key[:2] / f"{key}.safetensors"

    def _read(self, key: str) -> Optional[torch.Tensor]:
        if self.disk_dir is None:
            return None
        path = self._path(key)
        if not path.is_file():
            return None
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                if (f.metadata() or {}).get("evalkit_key") != key:
                    raise ValueError("key in the file does not match its name")
                features = f.get_tensor("features")
        except Exception as exc:  # torn or foreign file: recompute (and overwrite it on put)
            log.warning("feature cache: ignoring unreadable %s (%s)", path, exc)
            path.unlink(missing_ok=True)
            return None
        return features.to(self.device)

    def _write(self, key: str, features: torch.Tensor) -> None:
        from safetensors.torch import save

        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Atomic (unique temporary name, then a rename): concurrent writers of one key write
            # the same bytes, readers never see a half-written file.
            write_atomic(path, save({"features": features.detach().to("cpu").contiguous()},
                                    metadata={"evalkit_key": key, "settings": self.settings_key}))
            self.counters["disk_writes"] += 1
        except OSError as exc:  # a full or read-only disk slows the run down, it does not stop it
            log.warning("feature cache: cannot write %s (%s)", path, exc)
