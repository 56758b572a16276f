"""Compare and report across runs (`python -m evalkit.report`), reading only run directories.

discover (find runs, name them by differing config values) -> leaderboard (tables, pivots, CSV/MD)
-> html (self-contained report.html, charts from svg); compare + stats give paired comparisons
(bootstrap intervals, McNemar's exact test, flipped items).
"""

from evalkit.report.compare import Comparison, compare_runs, flipped_items, paired_frame
from evalkit.report.discover import ReportError, Run, describe_runs, find_run_dirs, load_run, load_runs, varying_keys
from evalkit.report.leaderboard import ablation_pivots, category_long, category_tables, leaderboard
from evalkit.report.stats import mcnemar_exact, paired_bootstrap

__all__ = [
    "Comparison",
    "ReportError",
    "Run",
    "ablation_pivots",
    "category_long",
    "category_tables",
    "compare_runs",
    "describe_runs",
    "find_run_dirs",
    "flipped_items",
    "leaderboard",
    "load_run",
    "load_runs",
    "mcnemar_exact",
    "paired_bootstrap",
    "paired_frame",
    "varying_keys",
]
