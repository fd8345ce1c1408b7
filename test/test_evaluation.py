"""Verification metrics: distances, k-fold ROC and VAL@FAR against the classic definitions."""
import math

import numpy as np
import pytest

import facenet
from toolkit.errors import FacenetError
from toolkit.evaluation import metrics


def _unit_rows(rng, n, dim):
    x = rng.standard_normal((n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _classic_accuracy(threshold, dist, actual_issame):
    """The classic per-threshold loop body, written out for comparison."""
    predict_issame = np.less(dist, threshold)
    tp = np.sum(np.logical_and(predict_issame, actual_issame))
    fp = np.sum(np.logical_and(predict_issame, np.logical_not(actual_issame)))
    tn = np.sum(np.logical_and(np.logical_not(predict_issame), np.logical_not(actual_issame)))
    fn = np.sum(np.logical_and(np.logical_not(predict_issame), actual_issame))
    tpr = 0 if tp + fn == 0 else float(tp) / float(tp + fn)
    fpr = 0 if fp + tn == 0 else float(fp) / float(fp + tn)
    return tpr, fpr, float(tp + tn) / dist.size


def test_euclidean_distance_is_squared_l2():
    e1 = np.array([[0.0, 0.0], [1.0, 2.0]])
    e2 = np.array([[3.0, 4.0], [1.0, 2.0]])
    np.testing.assert_array_equal(metrics.distance(e1, e2, 0), [25.0, 0.0])


def test_angular_distance_values():
    e1 = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [2.0, 2.0]])
    e2 = np.array([[0.0, 3.0], [-5.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(metrics.distance(e1, e2, 1), [0.5, 1.0, 0.25, 0.0], atol=1e-15)


def test_angular_distance_of_identical_vectors_is_exactly_zero():
    rng = np.random.RandomState(3)
    for e in (_unit_rows(rng, 500, 128), rng.standard_normal((500, 512)) * 7.3):
        for x in (e, e.astype(np.float32), -e):
            dist = metrics.distance(x, x, 1)
            assert not np.any(np.isnan(dist))
            np.testing.assert_array_equal(dist, 0.0)
        # Opposite vectors: the cosine may round below -1, the clip keeps it a number.
        opposite = metrics.distance(e, -e, 1)
        assert not np.any(np.isnan(opposite))
        np.testing.assert_allclose(opposite, 1.0, atol=1e-7)


def test_angular_distance_matches_classic_formula_away_from_the_ends():
    rng = np.random.RandomState(4)
    e1, e2 = rng.standard_normal((2, 300, 64))
    dot = np.sum(e1 * e2, axis=1)
    classic = np.arccos(dot / (np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1))) / math.pi
    np.testing.assert_allclose(metrics.distance(e1, e2, 1), classic, rtol=0, atol=1e-14)


def test_unknown_distance_metric_is_a_clear_error():
    with pytest.raises(FacenetError, match='distance metric 2'):
        metrics.distance(np.ones((1, 2)), np.ones((1, 2)), 2)


def test_accuracy_counts_strictly_below_threshold():
    dist = np.array([0.1, 0.5, 0.5, 0.9, 1.2, 0.5])
    issame = np.array([True, True, False, True, False, False])
    # At 0.5 only 0.1 is below: tp=1, fn=2, fp=0, tn=3.
    assert metrics.calculate_accuracy(0.5, dist, issame) == (1 / 3, 0.0, 4 / 6)
    assert metrics.calculate_val_far(1.0, dist, issame) == (1.0, 2 / 3)
    for threshold in np.arange(0, 1.5, 0.1):
        assert metrics.calculate_accuracy(threshold, dist, issame) == \
            _classic_accuracy(threshold, dist, issame)


def test_vectorized_rates_equal_the_classic_loop_with_ties():
    rng = np.random.RandomState(5)
    dist = np.round(rng.uniform(0, 4, 700), 2)  # many distances equal to a threshold
    issame = rng.rand(700) < 0.5
    thresholds = np.arange(0, 4, 0.01)
    tpr, fpr, acc = metrics.roc_rates(thresholds, dist, issame)
    for i, threshold in enumerate(thresholds):
        assert (tpr[i], fpr[i], acc[i]) == _classic_accuracy(threshold, dist, issame)


def test_rates_are_zero_without_same_or_different_pairs():
    dist = np.array([0.1, 0.2])
    assert metrics.calculate_val_far(0.15, dist, np.array([False, False])) == (0.0, 0.5)
    assert metrics.calculate_accuracy(0.15, dist, np.array([True, True])) == (0.5, 0.0, 0.5)


def test_threshold_at_far_keeps_first_threshold_of_repeated_far():
    thresholds = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    far = np.array([0.0, 0.0, 0.001, 0.001, 0.002, 0.002])
    assert metrics.threshold_at_far(thresholds, far, 0.001) == 2.0
    assert metrics.threshold_at_far(thresholds, far, 0.0015) == pytest.approx(3.0, abs=1e-12)
    assert metrics.threshold_at_far(thresholds, far, 0.0005) == pytest.approx(1.0, abs=1e-12)
    assert metrics.threshold_at_far(thresholds, far, 0.0) == 0.0
    assert metrics.threshold_at_far(thresholds, far, 0.01) == 0.0  # target never reached


def test_calculate_val_with_repeated_training_far():
    # 40 pairs, 4 folds; distances on a coarse grid so that many thresholds share a FAR.
    rng = np.random.RandomState(6)
    issame = np.tile([True, False], 20)
    dist_target = np.where(issame, rng.choice([0.2, 0.4], 40), rng.choice([0.3, 0.6, 0.8], 40))
    e1 = np.zeros((40, 1))
    e2 = np.sqrt(dist_target)[:, None]
    thresholds = np.arange(0, 1, 0.1)
    val, val_std, far = metrics.calculate_val(thresholds, e1, e2, issame, 0.2, nrof_folds=4)
    expected_val = []
    expected_far = []
    for test in np.array_split(np.arange(40), 4):
        train = np.setdiff1d(np.arange(40), test)
        dist = metrics.distance(e1, e2)
        fars = [metrics.calculate_val_far(t, dist[train], issame[train])[1] for t in thresholds]
        threshold = metrics.threshold_at_far(thresholds, fars, 0.2)
        v, f = metrics.calculate_val_far(threshold, dist[test], issame[test])
        expected_val.append(v)
        expected_far.append(f)
    assert val == pytest.approx(np.mean(expected_val), abs=1e-12)
    assert val_std == pytest.approx(np.std(expected_val), abs=1e-12)
    assert far == pytest.approx(np.mean(expected_far), abs=1e-12)
    assert 0 < val < 1


def test_roc_picks_threshold_on_training_folds():
    # Same pairs at distance 1, different at 3, except fold 0 whose pairs are swapped:
    # the training folds choose a threshold in (1, 3] and fold 0 then scores 0.
    issame = np.tile([True, False], 10)
    dist = np.where(issame, 1.0, 3.0)
    dist[:4] = np.where(issame[:4], 3.0, 1.0)
    e1 = np.zeros((20, 1))
    e2 = np.sqrt(dist)[:, None]
    tpr, fpr, accuracy = metrics.calculate_roc(np.arange(0, 4, 0.5), e1, e2, issame, nrof_folds=5)
    np.testing.assert_array_equal(accuracy, [0.0, 1.0, 1.0, 1.0, 1.0])
    assert tpr[0] == 0.0 and tpr[-1] == 1.0
    assert fpr[0] == 0.0 and fpr[-1] == 1.0


def test_too_few_pairs_for_the_folds():
    e = np.zeros((5, 2))
    with pytest.raises(FacenetError, match='5 pairs into 10 folds'):
        metrics.calculate_roc(np.arange(3), e, e, np.ones(5, bool), nrof_folds=10)


def test_equal_error_rate_and_auc():
    fpr = np.array([0.0, 0.1, 0.5, 1.0])
    tpr = np.array([0.0, 0.8, 0.9, 1.0])
    # 1 - x = 0.8 + (x - 0.1) * 0.25 on [0.1, 0.5]  ->  x = 0.18
    assert metrics.equal_error_rate(fpr, tpr) == pytest.approx(0.18, abs=1e-9)
    assert metrics.area_under_curve(fpr, tpr) == pytest.approx(0.04 + 0.34 + 0.475)
    # A curve that stops short of FPR 1 (the classic code raised here).
    assert metrics.equal_error_rate(fpr[:3], tpr[:3]) == pytest.approx(0.18, abs=1e-9)


def test_facenet_reexports_the_classic_names():
    for name in ('distance', 'calculate_roc', 'calculate_val', 'calculate_accuracy',
                 'calculate_val_far'):
        assert getattr(facenet, name) is getattr(metrics, name)
