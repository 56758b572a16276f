"""Compare and report across runs (`python -m evalkit.report`), reading only run directories.

discover (find runs, name them by differing config values) -> leaderboard (tables, pivots, CSV/MD)
-> html (self-contained report.html, charts from svg); compare + stats give paired comparisons
(bootstrap intervals, McNemar's exact test, flipped items). Import the modules themselves: this
package imports nothing, so a benchmark can use `stats` without loading the report code.
"""
