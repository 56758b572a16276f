"""`python -m evalkit [group=option ...] [key=value ...] [--multirun]` — the Hydra entry point."""

from __future__ import annotations

import difflib
import logging
import sys
from pathlib import Path
from dataclasses import fields

import hydra
from omegaconf import DictConfig, OmegaConf

from evalkit.config import Config, conf_dir, register_configs, schema_of_option
from evalkit.errors import EvalkitError

GROUPS = ("model", "dataset", "decoding")


register_configs()


def _schema_fields(group: str, option: str | None) -> list[str] | None:
    """Keys a group accepts: the schema of the chosen option (dataset schemas differ)."""
    if option is None:
        defaults = OmegaConf.load(conf_dir() / "config.yaml").defaults
        option = next((d[group] for d in defaults if isinstance(d, DictConfig) and group in d), None)
    schema = schema_of_option(group, option) if option else None
    return sorted(f.name for f in fields(schema)) if schema else None


def check_overrides(args: list[str]) -> str | None:
    """Catch typos in command-line overrides before Hydra composes anything, with the valid choices.

    Hydra itself rejects them too, but only names the bad key; users want to see what exists.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in args if not a.startswith("-") and "=" in a]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # let Hydra report syntax errors in its own words
        return None
    chosen = {o.key_or_group: o.value() for o in parsed if o.key_or_group in GROUPS and not o.is_sweep_override()}
    # Options may also come from config folders added with hydra.searchpath (a decoding method kept
    # outside evalkit: its module plus its yaml); their group options are valid choices too.
    extra = [str(p).removeprefix("file://") for o in parsed if o.key_or_group == "hydra.searchpath"
             for p in (o.value() if isinstance(o.value(), list) else [o.value()])]
    for o in parsed:
        key = o.key_or_group
        if o.is_add() or o.is_force_add() or key.startswith("hydra"):
            continue
        head, _, rest = key.partition(".")
        if head in GROUPS and not rest:
            options = sorted({p.stem for d in (conf_dir(), *map(Path, extra)) for p in (d / head).glob("*.yaml")})
            values = o.sweep_iterator() if o.is_sweep_override() else [o.value()]
            for value in values:
                if str(value) not in options:
                    return f"unknown {head} option {value!r}; valid options: {', '.join(options)}"
        elif head in GROUPS:
            option = chosen.get(head)
            valid = _schema_fields(head, option if isinstance(option, str) else None)
            if valid is not None and rest.split(".")[0] not in valid:
                return _unknown(key, f"{head}.", valid)
        elif not rest:
            valid = [f.name for f in fields(Config) if f.name not in GROUPS]
            if key not in valid:
                return _unknown(key, "", valid + list(GROUPS))
    return None


def _unknown(key: str, prefix: str, valid: list[str]) -> str:
    name = key[len(prefix):]
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    return f"unknown config key {key!r}{hint}; valid keys{' of ' + prefix[:-1] if prefix else ''}: {', '.join(valid)}"


@hydra.main(version_base=None, config_path=str(conf_dir()), config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from evalkit.pipeline import run

    hydra_cfg = HydraConfig.get()
    multirun = str(hydra_cfg.mode) == "RunMode.MULTIRUN"
    sweep_dir = Path(hydra_cfg.sweep.dir) / str(hydra_cfg.sweep.subdir) if multirun else None
    try:
        run(cfg, sweep_dir=sweep_dir)
    except EvalkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[evalkit] %(message)s")
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    problem = check_overrides(sys.argv[1:])
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    _hydra_main()


if __name__ == "__main__":
    main()
