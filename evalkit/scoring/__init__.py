"""Scoring: the yes/no answer rules (parse), pure yes/no metrics over DataFrames (metrics), the yes/no
task benchmarks build on (yesno), calibration of p_yes, the glue that scores a predictions frame as
its benchmark declares and writes metrics.csv / summary.json (scorer), and the importers that turn
other tools' prediction files into evalkit's PredictionRow columns. Benchmark-specific metrics live
with their benchmark (datasets_adapters/)."""
