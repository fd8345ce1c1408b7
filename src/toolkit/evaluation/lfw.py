"""Labeled Faces in the Wild: the pairs protocol and the classic 10-fold evaluation.

``pairs.txt`` starts with a ``<nrof_folds> <nrof_pairs_per_fold>`` header line, then one pair
per line: ``name i j`` (two images of one person) or ``name1 i name2 j`` (two people). Image
``i`` of ``name`` is ``<lfw_dir>/<name>/<name>_<iiii>.png`` (or ``.jpg``).
"""
import collections
import os

import numpy as np

from toolkit.errors import FacenetError
from toolkit.fileio import os_error_reason
from toolkit.evaluation.metrics import (area_under_curve, calculate_roc, calculate_val,
                                        equal_error_rate, fold_pair_counts)

ROC_THRESHOLDS = np.arange(0, 4, 0.01)
VAL_THRESHOLDS = np.arange(0, 4, 0.001)
FAR_TARGET = 1e-3
IMAGE_EXTENSIONS = ('png', 'jpg')

Metrics = collections.namedtuple(
    'Metrics', ['tpr', 'fpr', 'accuracy', 'val', 'val_std', 'far', 'auc', 'eer'])
Metrics.__doc__ = """The outputs of ``evaluate`` plus the area under the ROC curve and the EER."""

PairPaths = collections.namedtuple('PairPaths', ['paths', 'issame', 'nrof_skipped_pairs'])
PairPaths.__doc__ = """Image paths of the pairs found on disk.

paths: two paths per kept pair (pair k is paths[2k], paths[2k+1]); issame: one bool per kept
pair; nrof_skipped_pairs: pairs dropped because an image is missing (e.g. not aligned)."""


def evaluate(embeddings, actual_issame, nrof_folds=10, distance_metric=0, subtract_mean=False):
    """The classic LFW metrics of embeddings laid out as pairs (rows 2k and 2k+1 form pair k).

    Returns:
        (tpr, fpr, accuracy, val, val_std, far): the ROC curve over thresholds 0..4 step 0.01,
        the per-fold accuracies, and the validation rate (mean, std) and FAR at FAR = 1e-3
        (thresholds step 0.001).
    """
    embeddings = np.asarray(embeddings)
    embeddings1 = embeddings[0::2]
    embeddings2 = embeddings[1::2]
    actual_issame = np.asarray(actual_issame, dtype=bool)
    tpr, fpr, accuracy = calculate_roc(
        ROC_THRESHOLDS, embeddings1, embeddings2, actual_issame, nrof_folds=nrof_folds,
        distance_metric=distance_metric, subtract_mean=subtract_mean)
    val, val_std, far = calculate_val(
        VAL_THRESHOLDS, embeddings1, embeddings2, actual_issame, FAR_TARGET, nrof_folds=nrof_folds,
        distance_metric=distance_metric, subtract_mean=subtract_mean)
    return tpr, fpr, accuracy, val, val_std, far


def evaluate_metrics(embeddings, actual_issame, nrof_folds=10, distance_metric=0,
                     subtract_mean=False):
    """``evaluate`` with the area under the ROC curve and the equal error rate, as a Metrics."""
    tpr, fpr, accuracy, val, val_std, far = evaluate(
        embeddings, actual_issame, nrof_folds, distance_metric, subtract_mean)
    return Metrics(tpr, fpr, accuracy, float(val), float(val_std), float(far),
                   area_under_curve(fpr, tpr), equal_error_rate(fpr, tpr))


def metrics_lines(metrics):
    """The classic validate_on_lfw result lines (accuracy, validation rate, AUC, EER)."""
    return ['Accuracy: %2.5f+-%2.5f' % (np.mean(metrics.accuracy), np.std(metrics.accuracy)),
            'Validation rate: %2.5f+-%2.5f @ FAR=%2.5f' % (metrics.val, metrics.val_std, metrics.far),
            'Area Under Curve (AUC): %1.3f' % metrics.auc,
            'Equal Error Rate (EER): %1.3f' % metrics.eer]


def pair_count_lines(issame, nrof_folds):
    """What the evaluation will use: the number of pairs of each kind, and a warning for
    each fold without same-person or without different-person pairs.

    Such a fold's missing rate counts as 0 in the mean ROC curve, so the AUC and EER (and,
    without same-person pairs, the validation rate) say little while the accuracy may look
    fine. ``issame`` has one bool per pair.
    """
    nrof_same = int(np.sum(issame))
    lines = ['Number of pairs: %d (%d same person, %d different people) in %d folds'
             % (len(issame), nrof_same, len(issame) - nrof_same, nrof_folds)]
    for fold, kind, rate in incomplete_folds(issame, nrof_folds):
        lines.append('warning: fold %d of %d has no %s pair: its %s rate counts as 0, so the '
                     'ROC curve, AUC and EER are not meaningful' % (fold, nrof_folds, kind, rate))
    return lines


def incomplete_folds(issame, nrof_folds):
    """``(fold number from 1, missing kind, rate taken as 0)`` of each fold lacking a kind."""
    missing = []
    for fold, (same, diff) in enumerate(fold_pair_counts(issame, nrof_folds), 1):
        if same == 0:
            missing.append((fold, 'same-person', 'true positive'))
        if diff == 0:
            missing.append((fold, 'different-person', 'false positive'))
    return missing


def _is_header(fields):
    return len(fields) == 2 and all(field.isdigit() for field in fields)


def _is_pair(fields):
    if len(fields) == 3:
        return fields[1].isdigit() and fields[2].isdigit()
    if len(fields) == 4:
        return fields[1].isdigit() and fields[3].isdigit()
    return False


def require_folds(nrof_folds):
    """FacenetError unless ``nrof_folds`` can cross-validate (at least 2 folds)."""
    if nrof_folds < 2:
        raise FacenetError('--lfw_nrof_folds must be at least 2, got %d' % nrof_folds)


def read_pairs(pairs_filename):
    """Read a pairs file into a list of pairs, each a list of 3 or 4 strings.

    The ``10 300`` header line is skipped; blank lines are ignored. (The classic code
    skipped the first line whatever it held; here a first line that is a pair is kept.)

    Raises:
        FacenetError: the file is missing or holds no pair, or a line is neither ``name i j`` nor
            ``name1 i name2 j`` (the message names the file and the line number).
    """
    try:
        with open(pairs_filename, 'r') as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        raise FacenetError('pairs file not found: %s' % pairs_filename) from None
    except OSError as error:
        raise FacenetError('cannot read pairs file %s: %s'
                           % (pairs_filename, os_error_reason(error))) from None
    except UnicodeDecodeError as error:
        raise FacenetError('cannot read pairs file %s: %s' % (pairs_filename, error)) from None
    pairs = []
    for line_number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields or (line_number == 1 and _is_header(fields)):
            continue
        if not _is_pair(fields):
            raise FacenetError('%s line %d: expected "name i j" or "name1 i name2 j", got "%s"'
                               % (pairs_filename, line_number, ' '.join(fields)))
        pairs.append(fields)
    if not pairs:
        raise FacenetError('pairs file %s holds no pairs' % pairs_filename)
    return pairs


def _image_path(lfw_dir, name, number, extensions):
    """Path of image ``number`` of ``name`` with the first extension found, or None."""
    stem = os.path.join(lfw_dir, name, '%s_%04d' % (name, int(number)))
    for ext in extensions:
        if os.path.isfile(stem + '.' + ext):
            return stem + '.' + ext
    return None


def find_pair_paths(lfw_dir, pairs, extensions=IMAGE_EXTENSIONS):
    """Locate the images of each pair, skipping (and counting) pairs with a missing image.

    Args:
        lfw_dir: folder with one sub-folder per person.
        pairs: as returned by ``read_pairs``.
        extensions: file extensions (without the dot) to try, in order.

    Returns:
        PairPaths(paths, issame, nrof_skipped_pairs).

    Raises:
        FacenetError: ``lfw_dir`` is not a directory.
    """
    if not os.path.isdir(lfw_dir):
        raise FacenetError('LFW directory not found: %s' % lfw_dir)
    paths = []
    issame = []
    nrof_skipped_pairs = 0
    for pair in pairs:
        if len(pair) == 3:
            name0, number0, name1, number1 = pair[0], pair[1], pair[0], pair[2]
        else:
            name0, number0, name1, number1 = pair
        path0 = _image_path(lfw_dir, name0, number0, extensions)
        path1 = _image_path(lfw_dir, name1, number1, extensions)
        if path0 and path1:
            paths += (path0, path1)
            issame.append(len(pair) == 3)
        else:
            nrof_skipped_pairs += 1
    return PairPaths(paths, issame, nrof_skipped_pairs)


def get_paths(lfw_dir, pairs, file_ext=None):
    """Classic interface: ``(path_list, issame_list)`` of the pairs whose images exist.

    Tries ``file_ext`` first when given, then png and jpg. Prints how many pairs were skipped;
    use ``find_pair_paths`` to get that count as a value.
    """
    extensions = IMAGE_EXTENSIONS
    if file_ext:
        extensions = (file_ext.lstrip('.'),) + tuple(e for e in IMAGE_EXTENSIONS if e != file_ext)
    found = find_pair_paths(lfw_dir, pairs, extensions)
    if found.nrof_skipped_pairs > 0:
        print('Skipped %d image pairs' % found.nrof_skipped_pairs)
    return found.paths, found.issame
