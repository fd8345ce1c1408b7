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


def center_loss(features, labels, alfa, nrof_classes, update_with_loss=True):
    """Center loss (Wen et al., ECCV 2016): mean squared distance of features to their centers.

    The centers are a non-trainable ``centers`` variable (nrof_classes x D). The update moves
    the centers of the batch's classes towards their features, ``c <- c - (1 - alfa) * (c - x)``;
    the loss always uses the centers as they were before this update.

    Args:
        features: N x D tensor; labels: N class indices.
        alfa: center update rate (1 keeps the centers fixed).
        nrof_classes: number of centers.
        update_with_loss: evaluating the loss also updates the centers (the classic API).
            The training scripts pass False and run the update with the training step only,
            so that validation batches do not move the centers.

    Returns:
        ``(loss, updated_centers)``: scalar tensor; the centers after the update (running it
        performs the update).
    """
    nrof_features = features.get_shape()[1]
    # In a step on several replicas the updates of all replicas add up on every copy.
    centers = tf.get_variable('centers', [nrof_classes, nrof_features], dtype=features.dtype,
                              initializer=tf.constant_initializer(0), trainable=False,
                              aggregation=tf.VariableAggregation.SUM)
    labels = tf.reshape(labels, [-1])
    centers_batch = tf.gather(centers, labels)  # N x D, read before the update
    diff = (1 - alfa) * (centers_batch - features)
    updated_centers = centers.scatter_sub(tf.IndexedSlices(tf.stop_gradient(diff), labels))
    loss = tf.reduce_mean(tf.square(features - centers_batch))
    if update_with_loss:
        with tf.control_dependencies([updated_centers]):
            loss = tf.identity(loss)
    return loss, updated_centers


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
