"""The wheel's package list is written out in pyproject.toml (conf/ is mapped into evalkit/conf),
so a new subpackage must be added there; this catches one that is not. `.ci/wheel_check` builds
and runs the wheel itself."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _setuptools():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_source_package_ships_in_the_wheel():
    on_disk = {
        ".".join(d.relative_to(ROOT).parts)
        for top in ("evalkit", "datasets_adapters")
        for d in [ROOT / top, *(ROOT / top).rglob("*")]
        if d.is_dir() and any(d.glob("*.py"))
    }
    listed = set(_setuptools()["packages"])
    developer_tools = {p for p in on_disk if p == "evalkit.tools" or p.startswith("evalkit.tools.")}
    assert on_disk - listed - developer_tools == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert "evalkit.conf" in listed
    # Developer tools stay out of the wheel: what users install is what they run.
    assert not developer_tools & listed


def test_conf_is_mapped_into_the_package_with_every_yaml():
    setuptools = _setuptools()
    assert setuptools["package-dir"]["evalkit.conf"] == "conf"
    patterns = setuptools["package-data"]["evalkit.conf"]
    yamls = {p.relative_to(ROOT / "conf") for p in (ROOT / "conf").rglob("*.yaml")}
    shipped = {p for p in yamls if any(p.match(pattern) and len(p.parts) == len(Path(pattern).parts)
                                       for pattern in patterns)}
    assert yamls and shipped == yamls
