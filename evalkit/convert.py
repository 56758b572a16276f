"""`python -m evalkit.convert SRC OUT [--base BASE] [--vision-tower DIR]` — write an original-format
LLaVA checkpoint (a full fine-tune, or a LoRA output with its base) as a llava-hf directory.

`python -m evalkit model.path=SRC [model.base=BASE]` does the same on its own, once, into a cache
keyed by content (docs/fine_tuned.md); this command is for users who want the directory itself,
e.g. to load it with transformers or to copy it to another machine. Every refusal (projector type,
<im_start>/<im_end>, S² towers, quantised LoRA, anyres with flat merge) comes before any weight
is read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evalkit.errors import ConfigError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evalkit.convert", description=__doc__.splitlines()[0])
    parser.add_argument("src", help="original-format checkpoint directory (config.json with mm_* keys)")
    parser.add_argument("out", help="llava-hf directory to write (must not exist)")
    parser.add_argument("--base", help="a LoRA output's base: the LLM or LLaVA checkpoint it was trained on")
    parser.add_argument("--vision-tower", help="CLIP tower directory or hub id replacing mm_vision_tower")
    args = parser.parse_args(argv)
    from evalkit.models.original import inspect_original, is_original

    out = Path(args.out)
    try:
        if not is_original(args.src):
            raise ConfigError(f"{args.src}: not an original-format LLaVA checkpoint (no config.json with LLaVA's "
                              "architectures and mm_* keys); a llava-hf checkpoint needs no conversion")
        if out.exists() and any(out.iterdir()):
            raise ConfigError(f"{out} exists and is not empty; choose a new directory")
        checkpoint = inspect_original(args.src, args.base, args.vision_tower)
        if out.exists():
            out.rmdir()
        from evalkit.models.convert_weights import convert

        record = convert(checkpoint, out)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({record['family']}, {record['bytes'] / 2**20:.1f} MiB, {record['seconds']:.1f} s; "
          f"vision tower weights from the {record['vision_tower_weights']}, "
          f"{record['lora_layers_merged']} LoRA layers merged)")
    print(f"evaluate it: python -m evalkit model={record['family']} model.name={Path(args.src).name} model.path={out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
