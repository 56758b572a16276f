"""Which code a run directory may make evalkit import.

A run directory's `config.yaml` (and an imported run's summary.json) names classes by `_target_`.
Rescoring, reports and `python -m evalkit.merge` read run directories that someone else may have
written (a shared results folder), so a name found there is imported only when it resolves to
evalkit's own packages (`evalkit`, `datasets_adapters`) or to a module the user named themselves:
`--trust MODULE` on the command line (or `EVALKIT_TRUST=MODULE[:...]`), or `--trust DIR` for a
config folder of their own (the one they pass as `hydra.searchpath=[file://DIR]`: every
`_target_` in its yaml files). The current
directory is never an import source for such a name (`python -m` puts it first on sys.path, so a
planted module beside a results folder would otherwise run), and nothing is built from a
`_target_` here: callers check the class before they instantiate it.

Names that come from the user's own command line or config (`python -m evalkit dataset=mine`,
`--benchmark mymodule.Class`) are theirs and are imported as given.
"""

from __future__ import annotations

import importlib
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from evalkit.errors import EvalkitError

OWN_PACKAGES = ("evalkit", "datasets_adapters")
_trusted: set[str] = set()  # modules the user named (--trust), this process


class UntrustedTarget(EvalkitError):
    pass


def trust(names: Iterable[str]) -> None:
    """Trust modules the user named: a dotted module name, or a config folder whose yaml files'
    `_target_` modules are trusted (the folder of a `hydra.searchpath=[file://DIR]`); also those
    of the `EVALKIT_TRUST` environment variable (os.pathsep-separated)."""
    from_env = [n for n in os.environ.get("EVALKIT_TRUST", "").split(os.pathsep) if n.strip()]
    for name in [*from_env, *names]:
        path = Path(name).expanduser()
        if path.is_dir():
            _trusted.update(_targets_in(path))
        else:
            _trusted.add(str(name).strip())


def reset() -> None:
    """Forget what `trust` added (tests)."""
    _trusted.clear()


def _targets_in(folder: Path) -> set[str]:
    import yaml

    modules = set()
    for file in folder.rglob("*.yaml"):
        try:
            node = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        for target in _walk_targets(node):
            modules.add(target.rpartition(".")[0])
    return modules


def _walk_targets(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "_target_" and isinstance(value, str):
                yield value
            else:
                yield from _walk_targets(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_targets(value)


def is_trusted(target: str) -> bool:
    """Whether a dotted class name found in a run directory may be imported."""
    module = str(target).rpartition(".")[0]
    for allowed in (*OWN_PACKAGES, *_trusted):
        if allowed and (module == allowed or module.startswith(allowed + ".")):
            return True
    return False


def check(target: Any, where: str) -> str:
    """`target` (a `_target_` read from `where`, a run directory's file) if it may be imported,
    else an UntrustedTarget naming it and the way to allow it."""
    target = str(target)
    if not is_trusted(target):
        module = target.rpartition(".")[0] or target
        raise UntrustedTarget(
            f"{where} names {target!r}, which is not one of evalkit's own benchmarks; a run directory's "
            f"config does not make evalkit import code. If you wrote that module and trust it, pass "
            f"--trust {module} (or --trust DIR, the config folder you give as hydra.searchpath=[file://DIR])")
    return target


@contextmanager
def without_cwd() -> Iterator[None]:
    """sys.path without the current directory (python -m's first entry) for the imports inside,
    and with the folder evalkit itself was imported from first (its sibling packages live there)."""
    cwd = os.path.realpath(os.getcwd())
    home = str(Path(__file__).resolve().parents[1])
    saved = list(sys.path)
    sys.path[:] = [home] + [p for p in sys.path if p not in ("", ".") and os.path.realpath(p) != cwd]
    try:
        yield
    finally:
        sys.path[:] = saved


def import_class(target: str, where: str):
    """The class a run directory names, imported only if trusted and never from the current directory
    (a module the user trusted by name may live there)."""
    check(target, where)
    module, _, name = target.rpartition(".")
    user_named = not any(module == p or module.startswith(p + ".") for p in OWN_PACKAGES)
    if user_named:
        return getattr(importlib.import_module(module), name)
    with without_cwd():
        return getattr(importlib.import_module(module), name)
