"""The answer types: one module per kind of answer, each a `Task` a benchmark uses or subclasses.

- `yesno`: yes/no questions (MME, POPE, any yes/no file): yes-positive P/R/F1, p_yes calibration.
- `choice`: multiple choice (option letters): accuracy, calibration over option probabilities.
- `short_answer`: a word or phrase against human answers (VQA accuracy, exact match).
- `caption`: open-ended captions scored by object mentions (CHAIR).
- `judged`: a judge's rating of a free answer.

The rule (docs/architecture.md): what is true of every benchmark of an answer type lives here;
what one benchmark's official script does (its parse quirks, its tables) lives in that
benchmark's module in `datasets_adapters/`.
"""
