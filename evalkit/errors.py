"""Errors that stop a run before any model loads; the CLI prints them as one line and exits 2.

Also the two checks every schema shares, so that each message is worded once: a value outside
its choices (`check_choice`) and an unknown key with its closest valid one (`unknown_key`)."""

from __future__ import annotations

import difflib
from dataclasses import fields
from typing import Any, Mapping, Sequence


class EvalkitError(Exception):
    """A user-facing problem: the message names the file/item/key and what exists instead."""


class ConfigError(EvalkitError):
    pass


class EngineUnavailable(EvalkitError):
    """A served engine stopped answering (its server died or cannot be reached): the run stops
    instead of writing error rows for every item left; resuming it generates them."""


class DatasetError(EvalkitError):
    pass


def check_choice(key: str, value: Any, choices: Sequence, many: bool = False) -> Any:
    """`value` if it is one of `choices`, else a ConfigError naming `key` (dotted, as the command line
    spells it: `dataset.source`) and the choices. With `many`, `value` is a list (a single value is
    taken as one) whose every entry must be a choice: returned without repeats, in its order."""
    if not many:
        if value not in choices:
            raise ConfigError(f"{key}={value!r} is not valid; choose one of {', '.join(map(str, choices))}")
        return value
    given = [value] if isinstance(value, (str, int)) else list(value)
    unknown = [v for v in given if v not in choices]
    if unknown or not given:
        raise ConfigError(f"{key}={given}: unknown value(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                          f"choose from {', '.join(map(str, choices))}")
    return list(dict.fromkeys(given))


def unknown_key(key: str, prefix: str, valid: Sequence[str]) -> str:
    """The message for an unknown config key: its closest valid key and all of them."""
    name = key[len(prefix):]
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    return f"unknown config key {key!r}{hint}; valid keys{' of ' + prefix[:-1] if prefix else ''}: {', '.join(valid)}"


def build_settings(schema: type, section: str, values: Mapping[str, Any]):
    """A schema instance from keyword values, the way an adapter or a decoding method is built from
    its yaml (or directly, in tests and tools): an unknown key fails with the closest valid one,
    then the schema's `__post_init__` checks the values. The one validation of those settings."""
    valid = [f.name for f in fields(schema)]
    for key in values:
        if key not in valid:
            raise ConfigError(unknown_key(f"{section}.{key}", f"{section}.", valid))
    return schema(**values)
