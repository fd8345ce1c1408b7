"""The public lfw module: the classic LFW helpers, re-exported from ``toolkit.evaluation.lfw``.

Users' code keeps importing ``lfw`` (``read_pairs``, ``get_paths``, ``evaluate``); the pairs
protocol and the 10-fold evaluation live in the library.
"""
from toolkit.evaluation.lfw import (  # noqa: F401
    FAR_TARGET, IMAGE_EXTENSIONS, ROC_THRESHOLDS, VAL_THRESHOLDS, Metrics, PairPaths, evaluate,
    evaluate_metrics, find_pair_paths, get_paths, incomplete_folds, metrics_lines, pair_count_lines,
    read_pairs)
