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


def batch_moments(inputs, shift):
    """Mean, variance and element count per channel over every replica's part of the batch.

    Args:
        inputs: N x H x W x C tensor, this replica's part.
        shift: C values near the mean (e.g. the moving mean), subtracted before squaring so
            the one-pass variance keeps its precision.

    Returns:
        ``(mean, variance, count)``: C and C float tensors (biased variance), scalar count.
    """
    channels = inputs.get_shape()[-1]
    centered = inputs - tf.stop_gradient(shift)
    count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), tf.float32)
    sums = tf.concat([[count], tf.reduce_sum(centered, [0, 1, 2]),
                      tf.reduce_sum(tf.square(centered), [0, 1, 2])], 0)
    totals = sum_over_replicas(sums, differentiable=True)
    count = totals[0]
    shifted_mean = totals[1:1 + channels] / count
    variance = totals[1 + channels:] / count - tf.square(shifted_mean)
    return shift + shifted_mean, variance, count


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
    placed = tf.scatter_nd(tf.expand_dims(tf.range(offset, offset + rows), 1), tensor,
                           tf.concat([[rows * context.num_replicas_in_sync], tf.shape(tensor)[1:]], 0))
    return sum_over_replicas(placed)
