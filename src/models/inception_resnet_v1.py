"""Inception-ResNet-v1 as used by FaceNet, in the published checkpoint layout.

Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual Connections
on Learning" (2016). Scope and variable names, and their creation order, equal the
classic slim model's, so its checkpoints restore by name.
"""
from toolkit.nets.layers import Layers, avg_pool, max_pool, relu
from toolkit.tf_compat import tf


def block35(layers, net, scale=1.0, activation_fn=relu, scope=None):
    """Inception-ResNet-A: 35 x 35 grid (17 x 17 for 160 x 160 input)."""
    with tf.variable_scope(scope):
        with tf.variable_scope('Branch_0'):
            tower_0 = layers.conv2d(net, 32, 1, scope='Conv2d_1x1')
        with tf.variable_scope('Branch_1'):
            tower_1 = layers.conv2d(net, 32, 1, scope='Conv2d_0a_1x1')
            tower_1 = layers.conv2d(tower_1, 32, 3, scope='Conv2d_0b_3x3')
        with tf.variable_scope('Branch_2'):
            tower_2 = layers.conv2d(net, 32, 1, scope='Conv2d_0a_1x1')
            tower_2 = layers.conv2d(tower_2, 32, 3, scope='Conv2d_0b_3x3')
            tower_2 = layers.conv2d(tower_2, 32, 3, scope='Conv2d_0c_3x3')
        mixed = tf.concat([tower_0, tower_1, tower_2], 3)
        return residual(layers, net, mixed, scale, activation_fn)


def block17(layers, net, scale=1.0, activation_fn=relu, scope=None):
    """Inception-ResNet-B: 17 x 17 grid (8 x 8 for 160 x 160 input)."""
    with tf.variable_scope(scope):
        with tf.variable_scope('Branch_0'):
            tower_0 = layers.conv2d(net, 128, 1, scope='Conv2d_1x1')
        with tf.variable_scope('Branch_1'):
            tower_1 = layers.conv2d(net, 128, 1, scope='Conv2d_0a_1x1')
            tower_1 = layers.conv2d(tower_1, 128, [1, 7], scope='Conv2d_0b_1x7')
            tower_1 = layers.conv2d(tower_1, 128, [7, 1], scope='Conv2d_0c_7x1')
        mixed = tf.concat([tower_0, tower_1], 3)
        return residual(layers, net, mixed, scale, activation_fn)


def block8(layers, net, scale=1.0, activation_fn=relu, scope=None):
    """Inception-ResNet-C: 8 x 8 grid (3 x 3 for 160 x 160 input)."""
    with tf.variable_scope(scope):
        with tf.variable_scope('Branch_0'):
            tower_0 = layers.conv2d(net, 192, 1, scope='Conv2d_1x1')
        with tf.variable_scope('Branch_1'):
            tower_1 = layers.conv2d(net, 192, 1, scope='Conv2d_0a_1x1')
            tower_1 = layers.conv2d(tower_1, 192, [1, 3], scope='Conv2d_0b_1x3')
            tower_1 = layers.conv2d(tower_1, 192, [3, 1], scope='Conv2d_0c_3x1')
        mixed = tf.concat([tower_0, tower_1], 3)
        return residual(layers, net, mixed, scale, activation_fn)


def residual(layers, net, mixed, scale, activation_fn):
    """Project the branches back to the input depth and add them, scaled, to the input."""
    up = layers.conv2d(mixed, net.get_shape()[3], 1, normalize=False, activation_fn=None,
                       scope='Conv2d_1x1')
    net += scale * up
    return activation_fn(net) if activation_fn else net


def repeat(layers, net, count, block, scope, **kwargs):
    """Stack ``count`` blocks named ``<block>_1 .. <block>_<count>`` under ``scope``."""
    with tf.variable_scope(scope):
        for i in range(count):
            net = block(layers, net, scope='%s_%d' % (block.__name__, i + 1), **kwargs)
    return net


def stem(layers, inputs, end_points):
    """The first six layers, shared by Inception-ResNet-v1 and -v2: 71 x 71 x 192 for a
    299 x 299 input. Adds each layer's output to ``end_points``."""
    # 149 x 149 x 32
    net = layers.conv2d(inputs, 32, 3, stride=2, padding='VALID', scope='Conv2d_1a_3x3')
    end_points['Conv2d_1a_3x3'] = net
    # 147 x 147 x 32
    net = layers.conv2d(net, 32, 3, padding='VALID', scope='Conv2d_2a_3x3')
    end_points['Conv2d_2a_3x3'] = net
    # 147 x 147 x 64
    net = layers.conv2d(net, 64, 3, scope='Conv2d_2b_3x3')
    end_points['Conv2d_2b_3x3'] = net
    # 73 x 73 x 64
    net = max_pool(net, 3, 2, padding='VALID', scope='MaxPool_3a_3x3')
    end_points['MaxPool_3a_3x3'] = net
    # 73 x 73 x 80
    net = layers.conv2d(net, 80, 1, padding='VALID', scope='Conv2d_3b_1x1')
    end_points['Conv2d_3b_1x1'] = net
    # 71 x 71 x 192
    net = layers.conv2d(net, 192, 3, padding='VALID', scope='Conv2d_4a_3x3')
    end_points['Conv2d_4a_3x3'] = net
    return net


def reduction_a(layers, net, k, l, m, n):
    """Grid reduction 35 -> 17 (Mixed_6a), shared with Inception-ResNet-v2: a strided n-filter
    3x3, a k-filter 1x1 then l-filter 3x3 then strided m-filter 3x3, and a max pool."""
    with tf.variable_scope('Branch_0'):
        tower_0 = layers.conv2d(net, n, 3, stride=2, padding='VALID', scope='Conv2d_1a_3x3')
    with tf.variable_scope('Branch_1'):
        tower_1 = layers.conv2d(net, k, 1, scope='Conv2d_0a_1x1')
        tower_1 = layers.conv2d(tower_1, l, 3, scope='Conv2d_0b_3x3')
        tower_1 = layers.conv2d(tower_1, m, 3, stride=2, padding='VALID', scope='Conv2d_1a_3x3')
    with tf.variable_scope('Branch_2'):
        tower_pool = max_pool(net, 3, 2, padding='VALID', scope='MaxPool_1a_3x3')
    return tf.concat([tower_0, tower_1, tower_pool], 3)


def reduction_b(layers, net):
    """Grid reduction 17 -> 8 (Mixed_7a)."""
    with tf.variable_scope('Branch_0'):
        tower_0 = layers.conv2d(net, 256, 1, scope='Conv2d_0a_1x1')
        tower_0 = layers.conv2d(tower_0, 384, 3, stride=2, padding='VALID', scope='Conv2d_1a_3x3')
    with tf.variable_scope('Branch_1'):
        tower_1 = layers.conv2d(net, 256, 1, scope='Conv2d_0a_1x1')
        tower_1 = layers.conv2d(tower_1, 256, 3, stride=2, padding='VALID', scope='Conv2d_1a_3x3')
    with tf.variable_scope('Branch_2'):
        tower_2 = layers.conv2d(net, 256, 1, scope='Conv2d_0a_1x1')
        tower_2 = layers.conv2d(tower_2, 256, 3, scope='Conv2d_0b_3x3')
        tower_2 = layers.conv2d(tower_2, 256, 3, stride=2, padding='VALID', scope='Conv2d_1a_3x3')
    with tf.variable_scope('Branch_3'):
        tower_pool = max_pool(net, 3, 2, padding='VALID', scope='MaxPool_1a_3x3')
    return tf.concat([tower_0, tower_1, tower_2, tower_pool], 3)


def inference(images, keep_probability, phase_train=True, bottleneck_layer_size=128,
              weight_decay=0.0, reuse=None, trainable_scopes=None, sync_batch_norm=False):
    """Build the network on ``images`` (N x H x W x 3, standardized).

    Args:
        images: float tensor; 160 x 160 is the published input size (at least 75 x 75).
        keep_probability: dropout keep probability before the bottleneck while training.
        phase_train: Python bool or boolean tensor selecting training behaviour.
        bottleneck_layer_size: embedding size (128 or 512 for the published models).
        weight_decay: L2 weight decay on every kernel.
        reuse: reuse the variables of an earlier call.
        trainable_scopes: when fine-tuning only these scopes, the batch norms elsewhere are
            frozen (inference mode, moving statistics untouched); see ``Layers``.
        sync_batch_norm: in a step on several replicas (tf.distribute), training-mode batch
            norms use the statistics of all replicas' images; see ``Layers``.

    Returns:
        ``(prelogits, end_points)``: N x bottleneck_layer_size prelogits, dict of tensors.
    """
    layers = Layers(phase_train, weight_decay, trainable_scopes=trainable_scopes,
                    sync_batch_norm=sync_batch_norm)
    return inception_resnet_v1(layers, images, keep_probability, bottleneck_layer_size, reuse)


def inception_resnet_v1(layers, inputs, dropout_keep_prob=0.8, bottleneck_layer_size=128,
                        reuse=None, scope='InceptionResnetV1'):
    """The network body; shape comments are for a 299 x 299 input as in the paper."""
    end_points = {}
    with tf.variable_scope(scope, reuse=reuse):
        net = stem(layers, inputs, end_points)
        # 35 x 35 x 256
        net = layers.conv2d(net, 256, 3, stride=2, padding='VALID', scope='Conv2d_4b_3x3')
        end_points['Conv2d_4b_3x3'] = net

        # 5 x Inception-ResNet-A: 35 x 35 x 256
        net = repeat(layers, net, 5, block35, 'Repeat', scale=0.17)
        end_points['Mixed_5a'] = net
        # Reduction-A: 17 x 17 x 896
        with tf.variable_scope('Mixed_6a'):
            net = reduction_a(layers, net, 192, 192, 256, 384)
        end_points['Mixed_6a'] = net
        # 10 x Inception-ResNet-B: 17 x 17 x 896
        net = repeat(layers, net, 10, block17, 'Repeat_1', scale=0.10)
        end_points['Mixed_6b'] = net
        # Reduction-B: 8 x 8 x 1792
        with tf.variable_scope('Mixed_7a'):
            net = reduction_b(layers, net)
        end_points['Mixed_7a'] = net
        # 5 x Inception-ResNet-C: 8 x 8 x 1792
        net = repeat(layers, net, 5, block8, 'Repeat_2', scale=0.20)
        end_points['Mixed_8a'] = net
        net = block8(layers, net, activation_fn=None, scope='Block8')
        end_points['Mixed_8b'] = net

        with tf.variable_scope('Logits'):
            end_points['PrePool'] = net
            # 1 x 1 x 1792
            net = avg_pool(net, net.get_shape()[1:3], padding='VALID', scope='AvgPool_1a_8x8')
            net = tf.reshape(net, [-1, net.get_shape()[-1]])
            net = layers.dropout(net, dropout_keep_prob, scope='Dropout')
            end_points['PreLogitsFlatten'] = net
        net = layers.fully_connected(net, bottleneck_layer_size, scope='Bottleneck')
    return net, end_points
