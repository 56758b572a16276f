"""Decoding methods: one module per method, each a `DecodingMethod` subclass with its own typed
schema, built by `hydra.utils.instantiate` from `conf/decoding/<name>.yaml` (whose `_target_`
names the class). Adding a method is one module and one yaml; nothing here lists them."""
