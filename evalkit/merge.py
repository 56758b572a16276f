"""`python -m evalkit.merge RUN_DIR`: merge and score a sharded run (`shard.count` > 1) on demand.

The last shard job to finish does this by itself; this is for when it could not (it was killed
while merging, or the shards ran with different item sets). It rebuilds the item list from
RUN_DIR/config.yaml (no model is loaded) and refuses, naming the missing ids, while any item of
the dataset has no prediction.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

from omegaconf import OmegaConf

from evalkit.config import Config, register_configs, validate
from evalkit.errors import EvalkitError


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evalkit.merge", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[evalkit] %(message)s")
    from evalkit.pipeline import load_items, merge_if_complete

    saved = args.run_dir / "config.yaml"
    if not saved.is_file():
        print(f"error: {saved} not found: not an evalkit run directory", file=sys.stderr)
        return 2
    register_configs()
    try:
        # The saved config is resolved; merged into the schema it is checked like a command line.
        cfg = OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.load(saved))
        typed = validate(cfg)
        items = load_items(cfg.dataset, typed.limit)
        merge_if_complete(args.run_dir, cfg, typed, items, require=True)
    except EvalkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
