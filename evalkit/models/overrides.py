"""Ablation overrides (vision feature layer, select strategy, anyres pinpoints) applied to the model
config AND the processor together: the processor decides how many image tokens a prompt gets, the
model how many features it produces, and the two must agree."""

from __future__ import annotations


def apply_overrides(config, processor, family: str, path: str, layer, strategy, pinpoints) -> None:
    image_processor = processor.image_processor
    config.vision_feature_layer = checked_layers(config.vision_feature_layer if layer is None else layer,
                                                 config.vision_config, path)
    if strategy is not None:
        config.vision_feature_select_strategy = strategy
    processor.vision_feature_select_strategy = config.vision_feature_select_strategy
    # Older processor configs lack these; without them the token count is wrong.
    if getattr(processor, "patch_size", None) is None:
        processor.patch_size = config.vision_config.patch_size
    if getattr(processor, "num_additional_image_tokens", 0) == 0 and "clip" in config.vision_config.model_type:
        processor.num_additional_image_tokens = 1  # CLIP's CLS token
    if family == "llava16":
        if pinpoints is not None:
            config.image_grid_pinpoints = [list(map(int, p)) for p in pinpoints]
        image_processor.image_grid_pinpoints = config.image_grid_pinpoints
    if hasattr(image_processor, "do_pad") and family == "llava15":
        image_processor.do_pad = False  # we pad ourselves (LLaVA's expand2square) when asked


def checked_layers(layer, vision_config, path: str):
    """Vision feature layer(s) in range; 0 (the embeddings) written as -(layers + 1), the same
    hidden state: transformers passes the index on as `output_hidden_states`, and 0 would turn
    hidden states off and fail on every item."""
    n = vision_config.num_hidden_layers
    layers = list(layer) if isinstance(layer, (list, tuple)) else [layer]
    for value in layers:
        if not -(n + 1) <= int(value) <= n:
            raise ValueError(f"{path}: vision_feature_layer {value} is out of range for a vision tower of "
                             f"{n} layers (valid: 0..{n} or -{n + 1}..-1; -2 is LLaVA's penultimate layer)")
    fixed = [-(n + 1) if int(v) == 0 else int(v) for v in layers]
    return fixed if isinstance(layer, (list, tuple)) else fixed[0]
