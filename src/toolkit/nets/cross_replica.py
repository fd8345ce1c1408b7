"""Sums over the replicas of a tf.distribute step, with a gradient (synchronized batch norm).

Inside ``strategy.extended.call_for_each_replica`` each replica builds the same graph on its
own slice of the batch. ``sum_over_replicas`` adds a tensor over all of them (all devices of
all workers) through the strategy's own all-reduce; outside such a step (one device, no
strategy) it returns the tensor unchanged.

TensorFlow's ``ReplicaContext.all_reduce`` has a gradient too, but in graph mode it walks the
ops behind its output to find the variables they read, reaches the other replicas' copies
(``<name>/replica_1``) and fails; here the gradient is attached to an ``IdentityN`` instead:
the gradient of each replica's input is the sum over the replicas of the output gradients.
"""
from toolkit.tf_compat import tf, tf2, when_imported

_GRADIENT_NAME = 'FacenetCrossReplicaSum'


def replica_context():
    """The replica context of a step on several replicas; None on one replica or outside."""
    context = tf2.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def _sum_to_each_replica(strategy, per_replica):
    return strategy.extended.reduce_to(tf2.distribute.ReduceOp.SUM, per_replica, per_replica)


def _sum_gradient(unused_op, grad_total, unused_grad_input):
    return [None, sum_over_replicas(grad_total)]


# Registered as soon as TensorFlow is imported (importing this module does not import it).
when_imported(lambda tensorflow: tensorflow.RegisterGradient(_GRADIENT_NAME)(_sum_gradient))


def sum_over_replicas(tensor, differentiable=False):
    """``tensor`` summed over the replicas of the current step (each replica gets the sum).

    Args:
        tensor: this replica's value (same shape on every replica).
        differentiable: let gradients flow back to every replica's ``tensor``; otherwise the
            sum is a constant for the gradient.
    """
    context = replica_context()
    if context is None:
        return tensor
    total = context.merge_call(_sum_to_each_replica, args=(tensor,))
    if not differentiable:
        return tf.stop_gradient(total)
    with tf.get_default_graph().gradient_override_map({'IdentityN': _GRADIENT_NAME}):
        return tf.identity_n([total, tensor])[0]


def mean_over_replicas(scalars):
    """``{name: scalar}`` averaged over the replicas of the current step, in one all-reduce
    and without gradient; the same dict outside a step on several replicas."""
    context = replica_context()
    if context is None:
        return dict(scalars)
    names = sorted(scalars)
    totals = sum_over_replicas(tf.stack([tf.cast(scalars[name], tf.float32) for name in names]))
    return dict(zip(names, tf.unstack(totals / float(context.num_replicas_in_sync))))


def batch_moments(inputs):
    """Mean, variance and element count per channel over every replica's part of the batch.

    Two passes, as a single device computes them: the mean from the replicas' sums, then
    the variance from their sums of squared deviations from it (a one-pass variance,
    E[x^2] - E[x]^2, lost up to 4% of some Inception-ResNet-v1 updates to cancellation).

    Args:
        inputs: N x H x W x C tensor, this replica's part.

    Returns:
        ``(mean, variance, count)``: C and C tensors (biased variance), scalar count, all of
        the inputs' type.
    """
    axes = [0, 1, 2]
    count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), inputs.dtype)
    totals = sum_over_replicas(tf.concat([[count], tf.reduce_sum(inputs, axes)], 0),
                               differentiable=True)
    count = totals[0]
    mean = totals[1:] / count
    squares = sum_over_replicas(tf.reduce_sum(tf.square(inputs - mean), axes),
                                differentiable=True)
    return mean, squares / count, count


def concat_over_replicas(tensor):
    """The replicas' ``tensor`` (N x ... each, same N) concatenated in replica order, on
    every replica (no gradient); the tensor itself outside a step on several replicas.

    Each replica places its rows in a zero tensor at its own offset and the sum over the
    replicas does the gathering, exactly (every sum has one non-zero term).
    """
    context = replica_context()
    if context is None:
        return tensor
    rows = tf.shape(tensor)[0]
    offset = context.replica_id_in_sync_group * rows
    shape = tf.concat([[rows * context.num_replicas_in_sync], tf.shape(tensor)[1:]], 0)
    placed = tf.scatter_nd(tf.expand_dims(tf.range(offset, offset + rows), 1), tensor, shape)
    return sum_over_replicas(placed)
