"""Face verification metrics: distances, k-fold ROC, validation rate at a target FAR, EER.

Pure numpy/scipy/scikit-learn, same numbers as the classic ``facenet.calculate_roc`` and
``facenet.calculate_val``. A pair is predicted "same person" when its distance is strictly
below the threshold. Each threshold sweep counts the matches below every threshold at once
(one sort and a ``searchsorted``) instead of looping over thresholds in Python; the counts,
and so every rate, are the classic ones exactly.

Where this departs from the classic code, and why:
  - the cosine similarity is clipped to [-1, 1] and the norms are combined as
    ``sqrt(|a|^2 |b|^2)`` so that rounding never hands ``arccos`` a value above 1 (a NaN
    distance in the classic code) and identical vectors are exactly 0 apart;
  - ``calculate_val`` keeps, for each distinct training FAR, its smallest threshold before
    interpolating, because modern SciPy refuses repeated x values (classic SciPy accepted them);
  - a fold without same-person (or different-person) pairs has a rate of 0 instead of a
    ZeroDivisionError.
"""
import math

import numpy as np

from toolkit.errors import FacenetError

EUCLIDEAN = 0
"""Distance metric 0: squared euclidean distance."""
ANGULAR = 1
"""Distance metric 1: angle between the vectors (arccos of the cosine similarity) / pi."""


def distance(embeddings1, embeddings2, distance_metric=EUCLIDEAN):
    """Row-wise distance between two sets of embeddings.

    Args:
        embeddings1, embeddings2: arrays of shape (nrof_pairs, embedding_size).
        distance_metric: 0 for the squared euclidean distance (0..4 for unit vectors),
            1 for arccos(cosine similarity) / pi (0..1).

    Returns:
        float64 array of shape (nrof_pairs,). A zero vector has no direction: its angular
        distance is NaN, which no threshold accepts.
    """
    embeddings1 = np.asarray(embeddings1, dtype=np.float64)
    embeddings2 = np.asarray(embeddings2, dtype=np.float64)
    if distance_metric == EUCLIDEAN:
        diff = np.subtract(embeddings1, embeddings2)
        return np.sum(np.square(diff), 1)
    if distance_metric == ANGULAR:
        dot = np.sum(np.multiply(embeddings1, embeddings2), axis=1)
        # sqrt(x * x) == x exactly in IEEE arithmetic, so identical rows give similarity 1.
        norm = np.sqrt(np.sum(np.square(embeddings1), axis=1) * np.sum(np.square(embeddings2), axis=1))
        with np.errstate(invalid='ignore', divide='ignore'):
            similarity = np.clip(dot / norm, -1.0, 1.0)
        return np.arccos(similarity) / math.pi
    raise FacenetError('undefined distance metric %r (use 0: euclidean, 1: cosine)' % (distance_metric,))


def _match_counts(thresholds, dist, actual_issame):
    """Same and different pairs with a distance strictly below each threshold.

    Returns:
        (true_accepts, false_accepts, nrof_same, nrof_diff); the first two are int arrays
        shaped like ``thresholds``.
    """
    actual_issame = np.asarray(actual_issame, dtype=bool)
    same = np.sort(dist[actual_issame])
    diff = np.sort(dist[np.logical_not(actual_issame)])
    # side='left' counts the elements < threshold; sorted NaNs sit last and are never counted.
    true_accepts = np.searchsorted(same, thresholds, side='left')
    false_accepts = np.searchsorted(diff, thresholds, side='left')
    return true_accepts, false_accepts, same.size, diff.size


def _rate(count, total):
    """count / total as float64, 0 where total is 0."""
    return np.asarray(count, dtype=np.float64) / total if total else np.zeros(np.shape(count))


def roc_rates(thresholds, dist, actual_issame):
    """True positive rate, false positive rate and accuracy at each threshold.

    Returns:
        Three float64 arrays shaped like ``thresholds``.
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    tp, fp, nrof_same, nrof_diff = _match_counts(thresholds, dist, actual_issame)
    tn = nrof_diff - fp
    accuracy = (tp + tn).astype(np.float64) / dist.size
    return _rate(tp, nrof_same), _rate(fp, nrof_diff), accuracy


def val_far_rates(thresholds, dist, actual_issame):
    """Validation rate (true accept rate) and false accept rate at each threshold."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    tp, fp, nrof_same, nrof_diff = _match_counts(thresholds, dist, actual_issame)
    return _rate(tp, nrof_same), _rate(fp, nrof_diff)


def calculate_accuracy(threshold, dist, actual_issame):
    """Returns ``(tpr, fpr, accuracy)`` of predicting "same" for ``dist < threshold``."""
    tpr, fpr, accuracy = roc_rates([threshold], np.asarray(dist), actual_issame)
    return float(tpr[0]), float(fpr[0]), float(accuracy[0])


def calculate_val_far(threshold, dist, actual_issame):
    """Returns ``(val, far)``: the fractions of same and different pairs below ``threshold``."""
    val, far = val_far_rates([threshold], np.asarray(dist), actual_issame)
    return float(val[0]), float(far[0])


def _check_pairs(embeddings1, embeddings2, actual_issame, nrof_folds):
    """Number of pairs to evaluate; FacenetError when they cannot be split into folds."""
    if embeddings1.shape != embeddings2.shape:
        raise ValueError('embedding arrays differ in shape: %s vs %s'
                         % (embeddings1.shape, embeddings2.shape))
    nrof_pairs = min(len(actual_issame), embeddings1.shape[0])
    if not 2 <= nrof_folds <= nrof_pairs:
        raise FacenetError('cannot split %d pairs into %d folds (need 2 <= folds <= pairs)'
                           % (nrof_pairs, nrof_folds))
    return nrof_pairs


def _folds(nrof_pairs, nrof_folds):
    """(train_indices, test_indices) of each fold: consecutive blocks, no shuffling."""
    from sklearn.model_selection import KFold  # imported when used: scripts start faster
    return KFold(n_splits=nrof_folds, shuffle=False).split(np.arange(nrof_pairs))


def fold_pair_counts(actual_issame, nrof_folds):
    """Same-person and different-person pairs in the test part of each fold.

    The folds are those of ``calculate_roc`` and ``calculate_val``. Returns a list of
    ``(nrof_same, nrof_diff)``, one per fold.
    """
    actual_issame = np.asarray(actual_issame, dtype=bool)
    counts = []
    for _, test_set in _folds(len(actual_issame), nrof_folds):
        nrof_same = int(np.sum(actual_issame[test_set]))
        counts.append((nrof_same, len(test_set) - nrof_same))
    return counts


def _fold_distances(embeddings1, embeddings2, train_set, distance_metric, subtract_mean):
    """Distances of all pairs, optionally after subtracting the training fold's mean embedding."""
    if subtract_mean:
        mean = np.mean(np.concatenate([embeddings1[train_set], embeddings2[train_set]]), axis=0)
    else:
        mean = 0.0
    return distance(embeddings1 - mean, embeddings2 - mean, distance_metric)


def calculate_roc(thresholds, embeddings1, embeddings2, actual_issame, nrof_folds=10,
                  distance_metric=EUCLIDEAN, subtract_mean=False):
    """K-fold ROC curve and accuracy.

    For each fold the best-accuracy threshold is chosen on the training folds and applied to
    the test fold; the ROC curve is the mean over folds of the test folds' rates.

    Args:
        thresholds: 1-D array of distance thresholds.
        embeddings1, embeddings2: (nrof_pairs, embedding_size); row k of each forms pair k.
        actual_issame: booleans, one per pair.
        nrof_folds: number of consecutive (unshuffled) folds.
        distance_metric: see ``distance``.
        subtract_mean: subtract the mean of the training folds' embeddings (both sides).

    Returns:
        (tpr, fpr, accuracy): mean rates per threshold, and the test accuracy of each fold.

    Raises:
        FacenetError: fewer pairs than folds, or an unknown distance metric.
    """
    embeddings1 = np.asarray(embeddings1)
    embeddings2 = np.asarray(embeddings2)
    actual_issame = np.asarray(actual_issame, dtype=bool)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    nrof_pairs = _check_pairs(embeddings1, embeddings2, actual_issame, nrof_folds)
    tprs = np.zeros((nrof_folds, len(thresholds)))
    fprs = np.zeros((nrof_folds, len(thresholds)))
    accuracy = np.zeros(nrof_folds)
    for fold_idx, (train_set, test_set) in enumerate(_folds(nrof_pairs, nrof_folds)):
        dist = _fold_distances(embeddings1, embeddings2, train_set, distance_metric, subtract_mean)
        _, _, acc_train = roc_rates(thresholds, dist[train_set], actual_issame[train_set])
        best_threshold = thresholds[np.argmax(acc_train)]  # first of equally good thresholds
        tprs[fold_idx], fprs[fold_idx], _ = roc_rates(thresholds, dist[test_set],
                                                      actual_issame[test_set])
        _, _, accuracy[fold_idx] = calculate_accuracy(best_threshold, dist[test_set],
                                                      actual_issame[test_set])
    return np.mean(tprs, 0), np.mean(fprs, 0), accuracy


def threshold_at_far(thresholds, far, far_target):
    """The threshold whose false accept rate is ``far_target``, by linear interpolation.

    ``far`` is the FAR of each threshold (non-decreasing with the threshold). Each distinct
    FAR value keeps its first (smallest) threshold. Returns 0.0 when no threshold reaches
    the target, as the classic code did.
    """
    far = np.asarray(far, dtype=np.float64)
    if np.max(far) < far_target:
        return 0.0
    far_values, first = np.unique(far, return_index=True)
    first_thresholds = np.asarray(thresholds, dtype=np.float64)[first]
    if far_target <= far_values[0]:
        return float(first_thresholds[0])
    from scipy import interpolate
    threshold_of = interpolate.interp1d(far_values, first_thresholds, kind='slinear')
    return float(threshold_of(far_target))


def calculate_val(thresholds, embeddings1, embeddings2, actual_issame, far_target, nrof_folds=10,
                  distance_metric=EUCLIDEAN, subtract_mean=False):
    """K-fold validation rate at a target false accept rate.

    For each fold the threshold giving ``far_target`` on the training folds is interpolated
    and the test fold's validation rate and FAR measured at it.

    Returns:
        (val_mean, val_std, far_mean) over the folds.

    Raises:
        FacenetError: fewer pairs than folds, or an unknown distance metric.
    """
    embeddings1 = np.asarray(embeddings1)
    embeddings2 = np.asarray(embeddings2)
    actual_issame = np.asarray(actual_issame, dtype=bool)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    nrof_pairs = _check_pairs(embeddings1, embeddings2, actual_issame, nrof_folds)
    val = np.zeros(nrof_folds)
    far = np.zeros(nrof_folds)
    for fold_idx, (train_set, test_set) in enumerate(_folds(nrof_pairs, nrof_folds)):
        dist = _fold_distances(embeddings1, embeddings2, train_set, distance_metric, subtract_mean)
        _, far_train = val_far_rates(thresholds, dist[train_set], actual_issame[train_set])
        threshold = threshold_at_far(thresholds, far_train, far_target)
        val[fold_idx], far[fold_idx] = calculate_val_far(threshold, dist[test_set],
                                                         actual_issame[test_set])
    return np.mean(val), np.std(val), np.mean(far)


def area_under_curve(fpr, tpr):
    """Area under the ROC curve (trapezoidal rule over the given points)."""
    from sklearn import metrics
    return float(metrics.auc(fpr, tpr))


def equal_error_rate(fpr, tpr):
    """The false positive rate at which it equals the false negative rate (1 - tpr).

    Solves ``1 - x = tpr(x)`` on the linearly interpolated ROC curve, as the classic script
    did. Outside the measured FPR range the curve is held at its end values (the classic
    code raised there), so a curve not reaching FPR 1 still has an EER.
    """
    fpr = np.asarray(fpr, dtype=np.float64)
    tpr = np.asarray(tpr, dtype=np.float64)
    from scipy import interpolate, optimize
    tpr_of = interpolate.interp1d(fpr, tpr, bounds_error=False, fill_value=(tpr[0], tpr[-1]))
    return float(optimize.brentq(lambda x: 1. - x - tpr_of(x), 0., 1.))
