"""Benchmark adapters: one module per benchmark, each a class built by Hydra from `conf/dataset/*.yaml`.

An adapter declares its settings once, in its schema (a dataclass next to the class: fields,
defaults, and a `__post_init__` that refuses a value outside its choices with
`evalkit.errors.ConfigError`); it is built from them (`evalkit.benchmark.Benchmark.__init__`) and
exposes `load() -> list[Item]`, where missing files or unknown categories raise
`evalkit.errors.DatasetError` naming what was given and what exists. Adapters never open images:
they hand out references, and the runner decodes them so a broken image becomes an error row
rather than a failed run.
"""

# LLaVA's evaluation suffix for short answers (MME, POPE, and the default for yes/no files).
from evalkit.config import LLAVA_SHORT_ANSWER  # the default question suffix lives with DatasetConfig

__all__ = ["LLAVA_SHORT_ANSWER"]
