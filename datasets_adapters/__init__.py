"""Benchmark adapters: one module per benchmark, each a class built by Hydra from `conf/dataset/*.yaml`.

An adapter is constructed with its config fields (validated there: missing files, unknown splits
or categories raise `evalkit.errors.DatasetError` naming what was given and what exists) and
exposes `load() -> list[Item]`. Adapters never open images: they hand out references, and the
runner decodes them so a broken image becomes an error row rather than a failed run.
"""

# LLaVA's evaluation suffix for short answers (MME, POPE, and the default for yes/no files).
LLAVA_SHORT_ANSWER = "\nAnswer the question using a single word or phrase."
