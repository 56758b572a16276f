"""`python -m evalkit [group=option ...] [key=value ...] [--multirun]` — the Hydra entry point."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from dataclasses import fields, is_dataclass

import hydra
from omegaconf import DictConfig, OmegaConf

from evalkit.config import Config, conf_dir

from evalkit.registry import option_keys, register_configs
from evalkit.errors import EvalkitError, unknown_key

GROUPS = ("model", "dataset", "decoding")


register_configs()


def _schema_fields(group: str, option: str | None, extra: list[Path]) -> list[str] | None:
    """Keys a group accepts: those of the chosen option (its schema, or the constructor of a
    benchmark of your own found through hydra.searchpath); dataset schemas differ."""
    if option is None:
        defaults = OmegaConf.load(conf_dir() / "config.yaml").defaults
        option = next((d[group] for d in defaults if isinstance(d, DictConfig) and group in d), None)
    return option_keys(group, option, extra) if option else None


def check_overrides(args: list[str]) -> str | None:
    """Catch typos in command-line overrides before Hydra composes anything, with the valid choices.

    Hydra itself rejects them too, but only names the bad key (for a benchmark of your own it
    advises `+dataset.key=`, which then fails in the constructor); users want to see what exists.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in args if not a.startswith("-") and "=" in a]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # let Hydra report syntax errors in its own words
        return None
    chosen = {o.key_or_group: o.value() for o in parsed if o.key_or_group in GROUPS and not o.is_sweep_override()}
    extra = _searchpath_dirs(parsed)
    sections = _nested_sections()
    for o in parsed:
        key = o.key_or_group
        head, _, rest = key.partition(".")
        added = o.is_add() or o.is_force_add()  # `+dataset.key=`: checked too, the adapter would refuse it
        if key.startswith("hydra") or (added and not (head in GROUPS and rest)):
            continue
        if head in GROUPS and not rest:
            options = sorted({p.stem for d in (conf_dir(), *extra) for p in (d / head).glob("*.yaml")})
            values = o.sweep_iterator() if o.is_sweep_override() else [o.value()]
            for value in values:
                if str(value) not in options:
                    return (f"unknown {head} option {value!r}; valid options: {', '.join(options)}"
                            + (CUSTOM_HINT.format(group=head) if head == "dataset" else ""))
        elif head in GROUPS:
            option = chosen.get(head)
            valid = _schema_fields(head, option if isinstance(option, str) else None, extra)
            if valid is not None and rest.split(".")[0] not in valid:
                return unknown_key(key, f"{head}.", valid)
        elif rest and head in sections:
            valid = [f.name for f in fields(sections[head])]
            if rest not in valid:
                return unknown_key(key, f"{head}.", valid)
        elif not rest:
            valid = [f.name for f in fields(Config) if f.name not in GROUPS]
            if key not in valid:
                return unknown_key(key, "", valid + list(GROUPS))
    return None


def _nested_sections() -> dict[str, type]:
    """Top-level keys that are sections of their own (shard.index, shard.count)."""
    return {f.name: f.default_factory for f in fields(Config)
            if f.name not in GROUPS and is_dataclass(getattr(f, "default_factory", None))}


CUSTOM_HINT = ("; a {group} of your own: put its yaml in <dir>/{group}/ and pass "
               "'hydra.searchpath=[file:///absolute/path/to/<dir>]', with its module importable "
               "(PYTHONPATH=<folder holding it>)")

MULTIRUN_UNDER_LAUNCHER = (
    "error: --multirun under accelerate launch / torchrun (WORLD_SIZE={world}) would run the whole sweep "
    "in every process. Sweep with a launcher instead: `python -m evalkit --multirun hydra/launcher=slurm ...` "
    "(pip install -e '.[cluster]'; each cell is one job, docs/cluster.md), or start one `accelerate launch "
    "-m evalkit ...` per cell."
)


def multirun_under_launcher(argv: list[str], environ) -> str | None:
    """Every rank would run Hydra's sweep loop itself, each cell's ranks meeting in different
    process groups; stop before anything starts rather than hang or write runs twice."""
    world = environ.get("WORLD_SIZE", "1")
    multirun = any(a in ("-m", "--multirun") for a in argv)
    return MULTIRUN_UNDER_LAUNCHER.format(world=world) if multirun and world.isdigit() and int(world) > 1 else None


def _searchpath_dirs(parsed) -> list[Path]:
    """Config folders a `hydra.searchpath=[file://DIR, ...]` override adds (a user's own benchmarks,
    decoders, models): their options are valid choices too."""
    dirs = []
    for o in parsed:
        if o.key_or_group == "hydra.searchpath":
            value = o.value()
            for entry in value if isinstance(value, list) else [value]:
                entry = str(entry)
                if entry.startswith("file://"):
                    dirs.append(Path(entry[len("file://"):]))
    return dirs


@hydra.main(version_base=None, config_path=str(conf_dir()), config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from evalkit.pipeline import run

    hydra_cfg = HydraConfig.get()
    multirun = str(hydra_cfg.mode) == "RunMode.MULTIRUN"
    sweep_dir = Path(hydra_cfg.sweep.dir) / str(hydra_cfg.sweep.subdir) if multirun else None
    try:
        run(cfg, sweep_dir=sweep_dir)
    except (EvalkitError, OSError) as exc:  # file-system faults too: one line naming the file and cause
        print(f"error: {one_line(exc)}", file=sys.stderr)
        sys.exit(2)


def one_line(exc: BaseException) -> str:
    """An error as one line: its message, or for a bare OSError the file and the cause."""
    if isinstance(exc, OSError) and not isinstance(exc, EvalkitError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[evalkit] %(message)s")
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    problem = multirun_under_launcher(sys.argv[1:], os.environ)
    if problem:
        print(problem, file=sys.stderr)
        sys.exit(2)
    problem = check_overrides(sys.argv[1:])
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    _hydra_main()


if __name__ == "__main__":
    main()
