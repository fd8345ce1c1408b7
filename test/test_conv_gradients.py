"""The matrix-product filter gradient equals TensorFlow's own for every layer shape it takes."""
import numpy as np
import pytest

from toolkit.nets import conv_gradients
from toolkit.nets.layers import Layers
from toolkit.tf_compat import tf

# (height, width, channels in, channels out, kernel, stride, padding): the kinds of layer
# in the models (square and 1xn / nx1 kernels, both paddings, strides 1 and 2), with odd
# and even sizes so that SAME pads unevenly.
LAYERS = [
    (9, 9, 64, 128, (3, 3), 1, 'SAME'),
    (10, 9, 64, 128, (3, 3), 1, 'VALID'),
    (8, 8, 128, 128, (7, 1), 1, 'SAME'),
    (8, 7, 128, 128, (1, 7), 1, 'SAME'),
    (10, 9, 128, 64, (1, 1), 1, 'SAME'),
    (11, 11, 64, 128, (3, 3), 2, 'VALID'),
    (10, 9, 64, 128, (3, 3), 2, 'SAME'),
    (7, 7, 128, 128, (1, 1), 2, 'VALID'),
]


def _gradients(convolve, images, kernel, strides, padding, upstream):
    with tf.Graph().as_default():
        x = tf.constant(images)
        w = tf.constant(kernel)
        y = convolve(x, w, strides, padding)
        fetches = [y] + tf.gradients(tf.reduce_sum(y * upstream), [x, w])
        op_types = {op.type for op in tf.get_default_graph().get_operations()}
        with tf.Session() as sess:
            return sess.run(fetches), op_types


@pytest.mark.parametrize('height,width,channels_in,channels_out,kernel_size,stride,padding', LAYERS)
def test_filter_gradient_equals_the_builtin(height, width, channels_in, channels_out,
                                            kernel_size, stride, padding):
    rng = np.random.RandomState(0)
    images = rng.randn(3, height, width, channels_in).astype(np.float32)
    kernel = rng.randn(*kernel_size, channels_in, channels_out).astype(np.float32)
    strides = [1, stride, stride, 1]
    out_h = len(range(0, height - (kernel_size[0] - 1 if padding == 'VALID' else 0), stride))
    out_w = len(range(0, width - (kernel_size[1] - 1 if padding == 'VALID' else 0), stride))
    upstream = rng.randn(3, out_h, out_w, channels_out).astype(np.float32)

    ours, our_ops = _gradients(conv_gradients.conv2d, images, kernel, strides, padding, upstream)
    builtin, _ = _gradients(tf.nn.conv2d, images, kernel, strides, padding, upstream)

    assert 'Conv2DBackpropFilter' not in our_ops and 'MatMul' in our_ops
    np.testing.assert_array_equal(ours[0], builtin[0])  # the forward pass is TensorFlow's
    np.testing.assert_array_equal(ours[1], builtin[1])  # so is the input gradient
    scale = np.abs(builtin[2]).max()
    np.testing.assert_allclose(ours[2] / scale, builtin[2] / scale, rtol=0, atol=1e-5)


@pytest.mark.parametrize('shape,kernel_shape', [
    ((2, 9, 9, 16), (3, 3, 16, 32)),      # too few channels to gain: built-in gradient
    ((2, None, None, 64), (3, 3, 64, 128)),  # unknown spatial size: built-in gradient
])
def test_builtin_gradient_where_matmul_does_not_apply(shape, kernel_shape):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, shape)
        w = tf.zeros(kernel_shape)
        y = conv_gradients.conv2d(x, w, [1, 1, 1, 1], 'SAME')
        tf.gradients(tf.reduce_sum(y), [w])
        op_types = {op.type for op in tf.get_default_graph().get_operations()}
    assert 'Conv2DBackpropFilter' in op_types and 'MatMul' not in op_types


def test_model_layers_use_the_matmul_filter_gradient():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [2, 9, 9, 64])
        y = Layers(phase_train=True).conv2d(x, 128, 3, scope='Conv')
        tf.gradients(tf.reduce_sum(y), tf.trainable_variables())
        op_types = {op.type for op in tf.get_default_graph().get_operations()}
    assert 'Conv2DBackpropFilter' not in op_types and 'MatMul' in op_types
