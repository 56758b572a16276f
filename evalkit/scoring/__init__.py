"""Scoring: text -> yes/no/other (parse), pure metrics over DataFrames (metrics), and the glue that
re-scores a predictions file and writes metrics.csv / summary.json (score). Other tools' prediction
files are converted to evalkit's PredictionRow columns by `importers`.
"""

from evalkit.scoring.metrics import (
    binary_metrics,
    mme_bad_groups,
    mme_metrics,
    mme_totals,
    pope_mean_f1,
    pope_metrics,
)
from evalkit.scoring.parse import DEFAULT_RULE, RULES, parse_answer
from evalkit.scoring.score import Scores, read_predictions, score_predictions, write_scores

__all__ = [
    "DEFAULT_RULE",
    "RULES",
    "Scores",
    "binary_metrics",
    "mme_bad_groups",
    "mme_metrics",
    "mme_totals",
    "parse_answer",
    "pope_mean_f1",
    "pope_metrics",
    "read_predictions",
    "score_predictions",
    "write_scores",
]
