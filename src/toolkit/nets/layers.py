"""The few layer helpers the models need, in place of tf.contrib.slim.

Variable names follow slim's conventions (``<scope>/weights``, ``<scope>/biases``,
``<scope>/BatchNorm/{beta,moving_mean,moving_variance}``) so the published checkpoints
restore by name. A ``Layers`` object carries what slim's arg_scope used to: the
training switch, weight decay and batch-norm settings. Variables take the float type of
the layer's input (float32 for every model we train or load; float64 in the equivalence
tests of distributed training).
"""
import numpy as np

from toolkit.nets import conv_gradients, cross_replica
from toolkit.tf_compat import tf
from toolkit.training.checkpoints import in_scopes

BATCH_NORM_DECAY = 0.995
BATCH_NORM_EPSILON = 0.001
# The types of tf.nn.fused_batch_norm's input; others are normalized with separate ops.
FUSED_BATCH_NORM_TYPES = ('float16', 'bfloat16', 'float32')


def relu(features):
    """``tf.nn.relu`` (the same op); as a default argument it does not import TensorFlow."""
    return tf.nn.relu(features)


class Layers:
    """Layer factory bound to one network's settings.

    Args:
        phase_train: Python bool or boolean tensor; True uses batch statistics (and updates
            the moving ones in place), False the moving statistics.
        weight_decay: L2 factor; 0 adds no regularization loss (as slim did).
        bn_decay, bn_epsilon: batch-norm moving-average decay and variance epsilon.
        moving_stats_trainable: also put the moving statistics in the trainable collection,
            as the classic models did so that a Saver over trainable variables stores them.
        trainable_scopes: when given (fine-tuning with ``--trainable_scopes``), batch norms
            outside these scopes are frozen: they always normalize with their moving
            statistics and never update them, whatever ``phase_train`` says.
        sync_batch_norm: in a step on several replicas (tf.distribute), training-mode batch
            norms normalize with the mean and variance of all replicas' images together
            (``cross_replica.batch_moments``), so N replicas compute what one device does on
            the whole batch. Otherwise each replica uses its own images' statistics. Either
            way the moving statistics of all replicas move by the mean of their updates.
    """

    def __init__(self, phase_train, weight_decay=0.0, bn_decay=BATCH_NORM_DECAY,
                 bn_epsilon=BATCH_NORM_EPSILON, moving_stats_trainable=True,
                 trainable_scopes=None, sync_batch_norm=False):
        self.phase_train = phase_train
        self.weight_decay = weight_decay
        self.bn_decay = bn_decay
        self.bn_epsilon = bn_epsilon
        self.moving_stats_trainable = moving_stats_trainable
        self.trainable_scopes = list(trainable_scopes or [])
        self.sync_batch_norm = sync_batch_norm

    def _frozen(self):
        """True when the current variable scope lies outside the trainable scopes."""
        return bool(self.trainable_scopes) and not in_scopes(tf.get_variable_scope().name,
                                                             self.trainable_scopes)

    # -- variables -------------------------------------------------------------------------
    def _weights(self, shape, dtype):
        regularizer = None
        if self.weight_decay:
            def regularizer(w):
                decay = np.asarray(self.weight_decay, dtype.as_numpy_dtype)  # of w's type
                return tf.multiply(decay, tf.nn.l2_loss(w), name='l2_regularizer')
        return tf.get_variable('weights', shape, dtype,
                               initializer=tf.glorot_uniform_initializer(),
                               regularizer=regularizer)

    def _biases(self, size, dtype):
        return tf.get_variable('biases', [size], dtype, initializer=tf.zeros_initializer())

    def _moving_stat(self, name, size, initial_value, dtype):
        collections = [tf.GraphKeys.GLOBAL_VARIABLES, tf.GraphKeys.MOVING_AVERAGE_VARIABLES]
        if self.moving_stats_trainable:
            collections.append(tf.GraphKeys.TRAINABLE_VARIABLES)
        # Updated in each replica of a tf.distribute step: every copy moves by the mean update.
        return tf.get_variable(name, [size], dtype,
                               initializer=tf.constant_initializer(initial_value),
                               trainable=False, collections=collections,
                               aggregation=tf.VariableAggregation.MEAN)

    # -- layers ----------------------------------------------------------------------------
    def batch_norm(self, inputs, scope='BatchNorm'):
        """Batch norm without scale (gamma = 1), moving statistics updated in place.

        A frozen batch norm (outside ``trainable_scopes``) always runs in inference mode.
        """
        with tf.variable_scope(scope):
            channels = inputs.get_shape()[-1]
            dtype = inputs.dtype.base_dtype
            beta = tf.get_variable('beta', [channels], dtype, initializer=tf.zeros_initializer())
            moving_mean = self._moving_stat('moving_mean', channels, 0.0, dtype)
            moving_variance = self._moving_stat('moving_variance', channels, 1.0, dtype)
            is_2d = inputs.get_shape().ndims == 2
            x = tf.reshape(inputs, [-1, 1, 1, channels]) if is_2d else inputs
            gamma = tf.ones([channels], dtype)
            fused = dtype.name in FUSED_BATCH_NORM_TYPES

            def training():
                if not fused or (self.sync_batch_norm and cross_replica.replica_context()):
                    mean, variance, count = cross_replica.batch_moments(x)
                    y = tf.nn.batch_normalization(x, mean, variance, beta, None, self.bn_epsilon)
                    # The unbiased variance, as fused_batch_norm returns for the update.
                    variance = variance * count / tf.maximum(count - 1.0, 1.0)
                else:
                    y, mean, variance = tf.nn.fused_batch_norm(x, gamma, beta,
                                                               epsilon=self.bn_epsilon)
                rate = 1.0 - self.bn_decay
                update_mean = tf.assign_sub(moving_mean, (moving_mean - mean) * rate)
                update_variance = tf.assign_sub(moving_variance, (moving_variance - variance) * rate)
                with tf.control_dependencies([update_mean, update_variance]):
                    return tf.identity(y)

            def inference():
                if not fused:
                    return tf.nn.batch_normalization(x, moving_mean, moving_variance, beta, None,
                                                     self.bn_epsilon)
                y, _, _ = tf.nn.fused_batch_norm(x, gamma, beta, mean=moving_mean,
                                                 variance=moving_variance,
                                                 epsilon=self.bn_epsilon, is_training=False)
                return y

            outputs = inference() if self._frozen() else self._switch(training, inference)
            return tf.reshape(outputs, tf.shape(inputs)) if is_2d else outputs

    def conv2d(self, inputs, num_outputs, kernel_size, stride=1, padding='SAME', scope=None,
               normalize=True, activation_fn=relu):
        """Convolution, then batch norm (or biases when ``normalize`` is False), then activation."""
        kernel_h, kernel_w = ((kernel_size, kernel_size) if isinstance(kernel_size, int)
                              else kernel_size)
        with tf.variable_scope(scope):
            channels_in = inputs.get_shape()[-1]
            weights = self._weights([kernel_h, kernel_w, channels_in, int(num_outputs)],
                                    inputs.dtype.base_dtype)
            net = conv_gradients.conv2d(inputs, weights, [1, stride, stride, 1], padding)
            if normalize:
                net = self.batch_norm(net)
            else:
                net = tf.nn.bias_add(net, self._biases(int(num_outputs), net.dtype))
            return activation_fn(net) if activation_fn else net

    def fully_connected(self, inputs, num_outputs, scope=None, normalize=True, activation_fn=None):
        """Dense layer with batch norm (or biases) and an optional activation."""
        with tf.variable_scope(scope):
            weights = self._weights([inputs.get_shape()[-1], num_outputs], inputs.dtype.base_dtype)
            net = tf.matmul(inputs, weights)
            if normalize:
                net = self.batch_norm(net)
            else:
                net = tf.nn.bias_add(net, self._biases(num_outputs, net.dtype))
            return activation_fn(net) if activation_fn else net

    def dropout(self, inputs, keep_prob, scope='Dropout'):
        """Dropout while training only."""
        with tf.name_scope(scope):
            return self._switch(lambda: tf.nn.dropout(inputs, rate=1.0 - keep_prob),
                                lambda: tf.identity(inputs))

    def _switch(self, training, inference):
        """Pick the training or inference branch from a Python bool or a boolean tensor."""
        if isinstance(self.phase_train, bool):
            return training() if self.phase_train else inference()
        return tf.cond(self.phase_train, training, inference)


def max_pool(inputs, kernel_size, stride, padding='SAME', scope=None):
    return tf.nn.max_pool2d(inputs, kernel_size, stride, padding, name=scope)


def avg_pool(inputs, kernel_size, stride=1, padding='VALID', scope=None):
    return tf.nn.avg_pool2d(inputs, kernel_size, stride, padding, name=scope)
