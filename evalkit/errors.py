"""Errors that stop a run before any model loads; the CLI prints them as one line and exits 2."""


class EvalkitError(Exception):
    """A user-facing problem: the message names the file/item/key and what exists instead."""


class ConfigError(EvalkitError):
    pass


class DatasetError(EvalkitError):
    pass
