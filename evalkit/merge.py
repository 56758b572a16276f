"""`python -m evalkit.merge RUN_DIR [--repair] [--trust MODULE]`: merge and score a run on demand.

The last shard job to finish does this by itself; this is for when it could not (it was killed
while merging, or the shards ran with different item sets). It rebuilds the item list from
RUN_DIR/config.yaml (no model is loaded) and refuses, naming the missing ids, while any item of
the dataset has no prediction. Only benchmarks of evalkit's own (or modules named with --trust)
are imported from the run's config, and nothing is built before it is checked to be a benchmark
(evalkit.trust). `--repair` first keeps the first copy of every item predicted more than once
(two writers on one directory) and says how many it dropped.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

import yaml
from omegaconf import OmegaConf

from evalkit import rundir, trust
from evalkit.config import Config
from evalkit.registry import register_configs, validate
from evalkit.errors import EvalkitError
from evalkit.outputs import SHARD_DIR


def check_targets(config: dict, where: str) -> None:
    """Every `_target_` the merge would import (dataset, decoding) must be trusted, before any import."""
    for section in ("dataset", "decoding"):
        node = config.get(section) or {}
        if isinstance(node, dict) and node.get("_target_"):
            trust.check(node["_target_"], where)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evalkit.merge", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--repair", action="store_true",
                        help="keep the first copy of items predicted more than once, then merge")
    parser.add_argument("--trust", action="append", default=[], metavar="MODULE_OR_DIR",
                        help="a module (or a config folder of yours) the run's config may import")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[evalkit] %(message)s")
    from evalkit.pipeline import merge_if_complete
    from evalkit.items import load_items

    saved = args.run_dir / "config.yaml"
    if not saved.is_file():
        print(f"error: {saved} not found: not an evalkit run directory", file=sys.stderr)
        return 2
    register_configs()
    trust.trust(args.trust)
    try:
        check_targets(yaml.safe_load(saved.read_text(encoding="utf-8")) or {}, str(saved))
        # The saved config is resolved; merged into the schema it is checked like a command line.
        cfg = OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.load(saved))
        typed = validate(cfg)
        items = load_items(cfg.dataset, typed.limit)
        if args.repair:
            with rundir.RunLock(args.run_dir):
                dropped = rundir.repair_duplicates(args.run_dir / SHARD_DIR)
            print(f"{args.run_dir}: {dropped} duplicated row(s) dropped, the first copy of each item kept")
        merge_if_complete(args.run_dir, cfg, typed, items, require=True)
    except EvalkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
