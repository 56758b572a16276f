"""Clients of model servers (OpenAI-compatible chat completions), shared by the judge stage and
served engines."""
