"""Training losses: triplet loss value, center loss and its center update, prelogits norm."""
import numpy as np
import pytest

from toolkit.tf_compat import tf
from toolkit.training import losses


def _run(build):
    with tf.Graph().as_default():
        outputs = build()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            return sess.run(outputs)


def test_triplet_loss_value():
    rng = np.random.RandomState(1)
    anchor, positive, negative = (rng.randn(6, 4).astype(np.float32) for _ in range(3))
    alpha = 0.5
    pos = np.sum((anchor - positive) ** 2, 1)
    neg = np.sum((anchor - negative) ** 2, 1)
    expected = np.mean(np.maximum(pos - neg + alpha, 0.0))
    value = _run(lambda: losses.triplet_loss(tf.constant(anchor), tf.constant(positive),
                                             tf.constant(negative), alpha))
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    assert value > 0


def test_triplet_loss_is_zero_beyond_the_margin():
    anchor = np.zeros((2, 3), np.float32)
    positive = anchor + 0.1
    negative = anchor + 1.0
    value = _run(lambda: losses.triplet_loss(tf.constant(anchor), tf.constant(positive),
                                             tf.constant(negative), 0.2))
    assert value == 0.0


def test_center_loss_moves_centers_towards_class_means():
    """Repeated updates converge each center to its class mean (classic test_center_loss)."""
    nrof_classes, nrof_features, alfa = 3, 2, 0.5
    rng = np.random.RandomState(2)
    true_centers = np.array([[-1.0, 2.0], [3.0, 0.5], [0.0, -4.0]], np.float32)
    labels = np.arange(nrof_classes)  # one example per class and batch, as in large datasets
    with tf.Graph().as_default():
        feature_input = tf.placeholder(tf.float32, [None, nrof_features])
        label_input = tf.placeholder(tf.int64, [None])
        loss, update = losses.center_loss(feature_input, label_input, alfa, nrof_classes)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for step in range(40):
                features = true_centers + rng.randn(nrof_classes, nrof_features) * 0.01
                feed = {feature_input: features, label_input: labels}
                step_loss, centers = sess.run([loss, update], feed)
                if step == 0:
                    # The loss reads the centers before this step's update (all zero).
                    np.testing.assert_allclose(step_loss, np.mean(features ** 2), rtol=1e-5)
    np.testing.assert_allclose(centers, true_centers, atol=0.02)
    assert step_loss < 1e-3


@pytest.mark.parametrize('update_with_loss', [True, False])
def test_center_loss_single_update_formula(update_with_loss):
    with tf.Graph().as_default():
        features = tf.constant([[2.0, 4.0]])
        loss, update = losses.center_loss(features, tf.constant([1]), 0.75, 2, update_with_loss)
        centers = tf.global_variables()[0]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            assert sess.run(loss) == 10.0  # mean of (2^2, 4^2) against the zero center
            after_loss = sess.run(centers)
            np.testing.assert_allclose(sess.run(update), [[0.0, 0.0], [0.5, 1.0]] if not
                                       update_with_loss else [[0.0, 0.0], [0.875, 1.75]])
    # c <- c - (1 - alfa) * (c - x) = 0.25 * x for a zero center; the classic API updates
    # whenever the loss is evaluated, the training scripts' mode only with the update op.
    np.testing.assert_allclose(after_loss, [[0.0, 0.0], [0.5, 1.0]] if update_with_loss
                               else [[0.0, 0.0], [0.0, 0.0]])


def test_prelogits_norm_and_softmax_pieces():
    prelogits = np.array([[3.0, -4.0], [0.0, 1.0]], np.float32)
    eps = losses.PRELOGITS_NORM_EPSILON
    l2 = _run(lambda: losses.prelogits_norm(tf.constant(prelogits), 2.0))
    expected = np.mean(np.linalg.norm(np.abs(prelogits) + eps, axis=1))
    np.testing.assert_allclose(l2, expected, rtol=1e-5)
    l1 = _run(lambda: losses.prelogits_norm(tf.constant(prelogits), 1.0))
    np.testing.assert_allclose(l1, (7 + 1 + 4 * eps) / 2, rtol=1e-5)

    logits = np.array([[2.0, 0.0], [0.0, 1.0]], np.float32)
    labels = np.array([0, 0])
    xent, acc = _run(lambda: (losses.softmax_cross_entropy(tf.constant(logits), tf.constant(labels)),
                              losses.accuracy(tf.constant(logits), tf.constant(labels))))
    expected_xent = np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(1.0))])
    np.testing.assert_allclose(xent, expected_xent, rtol=1e-5)
    assert acc == 0.5
