"""A tiny model for tests: one fully connected bottleneck layer on the raw pixels."""
import numpy as np

from toolkit.nets.layers import Layers
from toolkit.tf_compat import tf


def inference(images, keep_probability, phase_train=True, bottleneck_layer_size=128,
              weight_decay=0.0, reuse=None, trainable_scopes=None, sync_batch_norm=False):
    """Flatten the images and project them to ``bottleneck_layer_size`` (batch-normalized).

    ``trainable_scopes``, ``sync_batch_norm``: as in ``inception_resnet_v1.inference``.

    Returns:
        ``(prelogits, end_points)``: N x bottleneck_layer_size tensor, empty dict.
    """
    layers = Layers(phase_train, weight_decay, trainable_scopes=trainable_scopes,
                    sync_batch_norm=sync_batch_norm)
    size = int(np.prod(images.get_shape()[1:].as_list()))
    flat = tf.reshape(images, [-1, size])  # N x (H * W * 3)
    with tf.variable_scope(tf.get_variable_scope(), reuse=reuse):
        net = layers.fully_connected(flat, bottleneck_layer_size, scope='Bottleneck')
    return net, {}
