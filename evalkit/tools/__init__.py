"""Developer tools: not needed to run an evaluation, and not in the wheel (pyproject.toml lists the
packages it ships; this one is left out): run them from a source checkout (`pip install -e .`).
Nothing outside this package imports it (tests/unit/test_import_graph.py: it is the top layer).

    python -m evalkit.tools.bench            throughput table of the runner (batching, feature cache, logits)
    python -m evalkit.tools.bench_lmms_eval  the bench items through lmms-eval's llava_hf vs evalkit
    python -m evalkit.tools.train_tiny       train the shipped tiny checkpoints (evalkit/checkpoints/)
    python -m evalkit.tools.parity_llava     original-format checkpoints through llava-torch vs evalkit (docs/fine_tuned.md)
    python -m evalkit.tools.bench_convert    conversion time and cache size of a LoRA output at a realistic shape

`tiny` builds tiny llava-hf-faithful checkpoints from config (tests, bench, training) and
`tiny_eval` is the quick per-category check `train_tiny --eval` prints.
"""
