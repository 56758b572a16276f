"""`python -m evalkit.tools.bench_convert [--layers N --width W]` — conversion time and cache size of
an original-format LLaVA-1.5 LoRA output at a realistic shape, as one table.

It writes, with evalkit/tools/tiny_original.py, a CLIP ViT-L/14-336 shaped tower (24 layers, width
1024: the real tower's size), a LLaVA-1.5 base whose language model has the given depth and width
(vicuna-7b: 32 layers at 4096, 32000 tokens) and a LoRA output of the seed handbook's rank (r 128,
alpha 256) on it, then times the first `resolve_checkpoint` (hash + convert + write), the second
(hash only: the cache hit every later run pays) and reports the sizes. A 7B model needs ~30 GB of
free memory to convert; the default shape is a quarter of that width and depth.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

CLIP_L = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16, image_size=336,
              patch_size=14, projection_dim=768, hidden_act="quick_gelu")


def _size(directory: Path) -> int:
    return sum(f.stat().st_size for f in Path(directory).rglob("*") if f.is_file())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--rank", type=int, default=128)
    args = parser.parse_args(argv)
    from evalkit.models.convert_weights import resolve_checkpoint
    from evalkit.tools.tiny_original import save_full, save_lora, save_vision_tower

    text = dict(hidden_size=args.width, intermediate_size=int(args.width * 2.6875) // 64 * 64,
                num_hidden_layers=args.layers, num_attention_heads=args.width // 128,
                num_key_value_heads=args.width // 128, max_position_embeddings=4096, rms_norm_eps=1e-5)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tower = save_vision_tower(root / "clip-vit-large-patch14-336", vision=CLIP_L)
        base = save_full(root / "llava-v1.5-base", tower, text=text, vision=CLIP_L, vocab_size=args.vocab)
        lora = save_lora(root / "llava-v1.5-lora", base, tower, r=args.rank, alpha=2 * args.rank, text=text,
                         vision=CLIP_L)
        cache = root / "cache"
        start, cpu = time.perf_counter(), time.process_time()
        directory, record = resolve_checkpoint(lora, base=str(base), cache_dir=str(cache))
        first, first_cpu = time.perf_counter() - start, time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        resolve_checkpoint(lora, base=str(base), cache_dir=str(cache))
        hit, hit_cpu = time.perf_counter() - start, time.process_time() - cpu
        inputs = _size(tower) + _size(base) + _size(lora)
        print(f"shape: {args.layers} layers x {args.width} wide, vocab {args.vocab}, CLIP-L tower, LoRA r {args.rank}")
        print("(wall seconds, and CPU seconds of this process: on a shared machine the CPU time is the stable one)")
        print(f"{'inputs GB':>10} {'cache GB':>9} {'first run s':>12} {'CPU s':>7} {'of it convert s':>16} "
              f"{'cache hit s':>12} {'CPU s':>7} {'LoRA layers':>12}")
        print(f"{inputs / 1e9:>10.2f} {_size(directory) / 1e9:>9.2f} {first:>12.1f} {first_cpu:>7.1f} "
              f"{record['seconds']:>16.1f} {hit:>12.1f} {hit_cpu:>7.1f} {record['lora_layers_merged']:>12}")


if __name__ == "__main__":
    main()
