"""SqueezeNet with a FaceNet bottleneck layer.

Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB
model size" (2016). Fire modules as in the classic facenet model (every convolution
batch-normalized), the 1000-way ``conv10`` kept, then a ``Bottleneck`` projection.
"""
from toolkit.nets.layers import Layers, avg_pool, max_pool
from toolkit.tf_compat import tf


def fire_module(layers, net, squeeze_depth, expand_depth, scope):
    """1x1 squeeze, then 1x1 and 3x3 expand branches concatenated (2 * expand_depth)."""
    with tf.variable_scope(scope):
        net = layers.conv2d(net, squeeze_depth, 1, scope='squeeze')
        with tf.variable_scope('expand'):
            expand_1x1 = layers.conv2d(net, expand_depth, 1, scope='1x1')
            expand_3x3 = layers.conv2d(net, expand_depth, 3, scope='3x3')
        return tf.concat([expand_1x1, expand_3x3], 3)


def inference(images, keep_probability, phase_train=True, bottleneck_layer_size=128,
              weight_decay=0.0, reuse=None, trainable_scopes=None, sync_batch_norm=False):
    """Build the network on ``images`` (N x H x W x 3, standardized; at least 25 x 25).

    ``trainable_scopes``, ``sync_batch_norm``: as in ``inception_resnet_v1.inference``.

    Returns:
        ``(prelogits, end_points)``: N x bottleneck_layer_size prelogits, dict of tensors.
    """
    layers = Layers(phase_train, weight_decay, trainable_scopes=trainable_scopes,
                    sync_batch_norm=sync_batch_norm)
    end_points = {}
    with tf.variable_scope('SqueezeNet', reuse=reuse):
        # 80 x 80 x 96 for a 160 x 160 input
        net = layers.conv2d(images, 96, 7, stride=2, scope='conv1')
        # 39 x 39 x 96
        net = max_pool(net, 3, 2, padding='VALID', scope='maxpool1')
        net = fire_module(layers, net, 16, 64, 'fire2')
        net = fire_module(layers, net, 16, 64, 'fire3')
        net = fire_module(layers, net, 32, 128, 'fire4')
        # 19 x 19 x 256
        net = max_pool(net, 2, 2, padding='VALID', scope='maxpool4')
        net = fire_module(layers, net, 32, 128, 'fire5')
        net = fire_module(layers, net, 48, 192, 'fire6')
        net = fire_module(layers, net, 48, 192, 'fire7')
        net = fire_module(layers, net, 64, 256, 'fire8')
        # 9 x 9 x 512
        net = max_pool(net, 3, 2, padding='VALID', scope='maxpool8')
        net = fire_module(layers, net, 64, 256, 'fire9')
        end_points['fire9'] = net
        net = layers.dropout(net, keep_probability, scope='Dropout')
        net = layers.conv2d(net, 1000, 1, normalize=False, activation_fn=None, scope='conv10')
        # 1 x 1 x 1000
        net = avg_pool(net, net.get_shape()[1:3], padding='VALID', scope='avgpool10')
        net = tf.reshape(net, [-1, 1000], name='logits')
        net = layers.fully_connected(net, bottleneck_layer_size, scope='Bottleneck')
    return net, end_points
