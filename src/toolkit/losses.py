"""Training losses: softmax cross-entropy, center loss, prelogits norm and triplet loss."""
from toolkit.tf_compat import tf

PRELOGITS_NORM_EPSILON = 1e-4


def triplet_loss(anchor, positive, negative, alpha):
    """Triplet loss of the FaceNet paper: mean of ``max(|a-p|^2 - |a-n|^2 + alpha, 0)``.

    Args:
        anchor, positive, negative: N x D embeddings.
        alpha: margin between the positive and the negative squared distance.

    Returns:
        Scalar float tensor.
    """
    with tf.variable_scope('triplet_loss'):
        pos_dist = tf.reduce_sum(tf.square(anchor - positive), 1)  # N
        neg_dist = tf.reduce_sum(tf.square(anchor - negative), 1)  # N
        basic_loss = pos_dist - neg_dist + alpha
        return tf.reduce_mean(tf.maximum(basic_loss, 0.0), 0)


def center_loss(features, labels, alfa, nrof_classes):
    """Center loss (Wen et al., ECCV 2016): mean squared distance of features to their centers.

    The centers are a non-trainable ``centers`` variable (nrof_classes x D). The returned
    update op moves the centers of the batch's classes towards their features,
    ``c <- c - (1 - alfa) * (c - x)``, after the loss has read them; run it with the
    training step only (the classic graph also ran it on validation batches).

    Returns:
        ``(loss, update_centers)``: scalar tensor; op returning the updated centers.
    """
    nrof_features = features.get_shape()[1]
    centers = tf.get_variable('centers', [nrof_classes, nrof_features], dtype=tf.float32,
                              initializer=tf.constant_initializer(0), trainable=False)
    labels = tf.reshape(labels, [-1])
    centers_batch = tf.gather(centers, labels)  # N x D
    loss = tf.reduce_mean(tf.square(features - centers_batch))
    diff = (1 - alfa) * (centers_batch - features)
    with tf.control_dependencies([loss]):
        update_centers = tf.scatter_sub(centers, labels, tf.stop_gradient(diff))
    return loss, update_centers


def prelogits_norm(prelogits, p):
    """Batch mean of the p-norm of the prelogits (a small epsilon keeps the gradient finite)."""
    norms = tf.norm(tf.abs(prelogits) + PRELOGITS_NORM_EPSILON, ord=p, axis=1)  # N
    return tf.reduce_mean(norms)


def softmax_cross_entropy(logits, labels):
    """Mean sparse softmax cross-entropy, named ``cross_entropy`` as in the classic graph."""
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits, name='cross_entropy_per_example')
    return tf.reduce_mean(per_example, name='cross_entropy')


def accuracy(logits, labels):
    """Fraction of the batch whose arg-max logit is the label."""
    correct = tf.equal(tf.argmax(logits, 1), tf.cast(labels, tf.int64))
    return tf.reduce_mean(tf.cast(correct, tf.float32))
