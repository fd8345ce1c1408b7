"""The public facenet module: the classic function names, re-exported from focused modules.

Users' code keeps importing ``facenet``; the work is done in ``toolkit.*``. Each section below
re-exports one library module.
"""
# Verification metrics (ROC, validation rate at a target FAR).
from toolkit.evaluation import (  # noqa: F401
    calculate_accuracy, calculate_roc, calculate_val, calculate_val_far, distance)
