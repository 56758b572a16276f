"""The judge stage: after generation, before scoring. Judged benchmarks ask a judge (an
OpenAI-compatible endpoint, or a local model) for their official request; every request and reply
is cached in the run directory (store.py), and the scorer joins the cached judgments onto the
prediction rows; rescoring never calls a judge."""
