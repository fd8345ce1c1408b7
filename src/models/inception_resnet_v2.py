"""Inception-ResNet-v2 as used by FaceNet, with the classic scope and variable names.

Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual Connections
on Learning" (2016). Same layout as the classic slim model (``InceptionResnetV2/...``),
ending in a batch-normalized ``Bottleneck`` layer instead of the ImageNet classifier.
"""
from models.inception_resnet_v1 import reduction_a, repeat, residual, stem
from toolkit.nets.layers import Layers, avg_pool, max_pool, relu
from toolkit.tf_compat import tf


def block35(layers, net, scale=1.0, activation_fn=relu, scope=None):
    """Inception-ResNet-A: 35 x 35 x 320 grid (17 x 17 for 160 x 160 input)."""
    with tf.variable_scope(scope):
        with tf.variable_scope('Branch_0'):
            tower_0 = layers.conv2d(net, 32, 1, scope='Conv2d_1x1')
        with tf.variable_scope('Branch_1'):
            tower_1 = layers.conv2d(net, 32, 1, scope='Conv2d_0a_1x1')
            tower_1 = layers.conv2d(tower_1, 32, 3, scope='Conv2d_0b_3x3')
        with tf.variable_scope('Branch_2'):
            tower_2 = layers.conv2d(net, 32, 1, scope='Conv2d_0a_1x1')
            tower_2 = layers.conv2d(tower_2, 48, 3, scope='Conv2d_0b_3x3')
            tower_2 = layers.conv2d(tower_2, 64, 3, scope='Conv2d_0c_3x3')
        mixed = tf.concat([tower_0, tower_1, tower_2], 3)
        return residual(layers, net, mixed, scale, activation_fn)


def block17(layers, net, scale=1.0, activation_fn=relu, scope=None):
    """Inception-ResNet-B: 17 x 17 x 1088 grid (8 x 8 for 160 x 160 input)."""
    with tf.variable_scope(scope):
        with tf.variable_scope('Branch_0'):
            tower_0 = layers.conv2d(net, 192, 1, scope='Conv2d_1x1')
        with tf.variable_scope('Branch_1'):
            tower_1 = layers.conv2d(net, 128, 1, scope='Conv2d_0a_1x1')
            tower_1 = layers.conv2d(tower_1, 160, [1, 7], scope='Conv2d_0b_1x7')
            tower_1 = layers.conv2d(tower_1, 192, [7, 1], scope='Conv2d_0c_7x1')
        mixed = tf.concat([tower_0, tower_1], 3)
        return residual(layers, net, mixed, scale, activation_fn)


def block8(layers, net, scale=1.0, activation_fn=relu, scope=None):
    """Inception-ResNet-C: 8 x 8 x 2080 grid (3 x 3 for 160 x 160 input)."""
    with tf.variable_scope(scope):
        with tf.variable_scope('Branch_0'):
            tower_0 = layers.conv2d(net, 192, 1, scope='Conv2d_1x1')
        with tf.variable_scope('Branch_1'):
            tower_1 = layers.conv2d(net, 192, 1, scope='Conv2d_0a_1x1')
            tower_1 = layers.conv2d(tower_1, 224, [1, 3], scope='Conv2d_0b_1x3')
            tower_1 = layers.conv2d(tower_1, 256, [3, 1], scope='Conv2d_0c_3x1')
        mixed = tf.concat([tower_0, tower_1], 3)
        return residual(layers, net, mixed, scale, activation_fn)


def mixed_5b(layers, net):
    """Stem output: four branches concatenated to 35 x 35 x 320."""
    with tf.variable_scope('Branch_0'):
        tower_0 = layers.conv2d(net, 96, 1, scope='Conv2d_1x1')
    with tf.variable_scope('Branch_1'):
        tower_1 = layers.conv2d(net, 48, 1, scope='Conv2d_0a_1x1')
        tower_1 = layers.conv2d(tower_1, 64, 5, scope='Conv2d_0b_5x5')
    with tf.variable_scope('Branch_2'):
        tower_2 = layers.conv2d(net, 64, 1, scope='Conv2d_0a_1x1')
        tower_2 = layers.conv2d(tower_2, 96, 3, scope='Conv2d_0b_3x3')
        tower_2 = layers.conv2d(tower_2, 96, 3, scope='Conv2d_0c_3x3')
    with tf.variable_scope('Branch_3'):
        tower_pool = avg_pool(net, 3, 1, padding='SAME', scope='AvgPool_0a_3x3')
        tower_pool = layers.conv2d(tower_pool, 64, 1, scope='Conv2d_0b_1x1')
    return tf.concat([tower_0, tower_1, tower_2, tower_pool], 3)


def reduction_b(layers, net):
    """Grid reduction 17 -> 8 (Mixed_7a): 8 x 8 x 2080."""
    with tf.variable_scope('Branch_0'):
        tower_0 = layers.conv2d(net, 256, 1, scope='Conv2d_0a_1x1')
        tower_0 = layers.conv2d(tower_0, 384, 3, stride=2, padding='VALID', scope='Conv2d_1a_3x3')
    with tf.variable_scope('Branch_1'):
        tower_1 = layers.conv2d(net, 256, 1, scope='Conv2d_0a_1x1')
        tower_1 = layers.conv2d(tower_1, 288, 3, stride=2, padding='VALID', scope='Conv2d_1a_3x3')
    with tf.variable_scope('Branch_2'):
        tower_2 = layers.conv2d(net, 256, 1, scope='Conv2d_0a_1x1')
        tower_2 = layers.conv2d(tower_2, 288, 3, scope='Conv2d_0b_3x3')
        tower_2 = layers.conv2d(tower_2, 320, 3, stride=2, padding='VALID', scope='Conv2d_1a_3x3')
    with tf.variable_scope('Branch_3'):
        tower_pool = max_pool(net, 3, 2, padding='VALID', scope='MaxPool_1a_3x3')
    return tf.concat([tower_0, tower_1, tower_2, tower_pool], 3)


def inference(images, keep_probability, phase_train=True, bottleneck_layer_size=128,
              weight_decay=0.0, reuse=None, trainable_scopes=None, sync_batch_norm=False):
    """Build the network on ``images`` (N x H x W x 3, standardized; at least 75 x 75).

    ``trainable_scopes``, ``sync_batch_norm``: as in ``inception_resnet_v1.inference``.

    Returns:
        ``(prelogits, end_points)``: N x bottleneck_layer_size prelogits, dict of tensors.
    """
    layers = Layers(phase_train, weight_decay, trainable_scopes=trainable_scopes,
                    sync_batch_norm=sync_batch_norm)
    return inception_resnet_v2(layers, images, keep_probability, bottleneck_layer_size, reuse)


def inception_resnet_v2(layers, inputs, dropout_keep_prob=0.8, bottleneck_layer_size=128,
                        reuse=None, scope='InceptionResnetV2'):
    """The network body; shape comments are for a 299 x 299 input as in the paper."""
    end_points = {}
    with tf.variable_scope(scope, reuse=reuse):
        net = stem(layers, inputs, end_points)
        # 35 x 35 x 192
        net = max_pool(net, 3, 2, padding='VALID', scope='MaxPool_5a_3x3')
        end_points['MaxPool_5a_3x3'] = net
        # 35 x 35 x 320
        with tf.variable_scope('Mixed_5b'):
            net = mixed_5b(layers, net)
        end_points['Mixed_5b'] = net
        # 10 x Inception-ResNet-A: 35 x 35 x 320
        net = repeat(layers, net, 10, block35, 'Repeat', scale=0.17)
        # Reduction-A: 17 x 17 x 1088
        with tf.variable_scope('Mixed_6a'):
            net = reduction_a(layers, net, 256, 256, 384, 384)  # 17 x 17 x 1088
        end_points['Mixed_6a'] = net
        # 20 x Inception-ResNet-B: 17 x 17 x 1088
        net = repeat(layers, net, 20, block17, 'Repeat_1', scale=0.10)
        end_points['PreAuxLogits'] = net
        # Reduction-B: 8 x 8 x 2080
        with tf.variable_scope('Mixed_7a'):
            net = reduction_b(layers, net)
        end_points['Mixed_7a'] = net
        # 9 x Inception-ResNet-C: 8 x 8 x 2080
        net = repeat(layers, net, 9, block8, 'Repeat_2', scale=0.20)
        net = block8(layers, net, activation_fn=None, scope='Block8')
        # 8 x 8 x 1536
        net = layers.conv2d(net, 1536, 1, scope='Conv2d_7b_1x1')
        end_points['Conv2d_7b_1x1'] = net

        with tf.variable_scope('Logits'):
            end_points['PrePool'] = net
            # 1 x 1 x 1536
            net = avg_pool(net, net.get_shape()[1:3], padding='VALID', scope='AvgPool_1a_8x8')
            net = tf.reshape(net, [-1, net.get_shape()[-1]])
            net = layers.dropout(net, dropout_keep_prob, scope='Dropout')
            end_points['PreLogitsFlatten'] = net
        net = layers.fully_connected(net, bottleneck_layer_size, scope='Bottleneck')
    return net, end_points
