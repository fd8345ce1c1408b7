"""A 2-D convolution whose filter gradient runs as matrix products where that is faster.

On CPU, TensorFlow computes a convolution's filter gradient with oneDNN's backward-weights
kernel, which on AVX2 machines runs at about half the speed of its forward kernels. The
filter gradient of a ``kh x kw`` convolution is a sum over the kernel taps of
``patch(x)^T . dy``, so it can equally be computed as one large matrix product:

- 1x1, stride 1: ``x^T . dy`` directly, with no copy;
- larger kernels, stride 1: one product per tap over a shifted view of the padded input;
- stride 2 and more: one product over all the input patches (``extract_patches``).

For layers with few channels the copies cost more than they save, so those keep the
built-in gradient. The forward pass and the input gradient are TensorFlow's own; only the
summation order of the filter gradient changes (float rounding).
"""
from toolkit.tf_compat import tf, when_imported

# Below this many input x output channels the built-in gradient is as fast or faster: timed
# per layer shape of Inception-ResNet-v1 (batch 90, 2-core AVX2 machine), e.g. 3x3 32->32
# 21.9 (built-in) against 18.8 GMAC/s, 3x3 80->192 27.7 against 55.8 GMAC/s.
MIN_CHANNEL_PRODUCT = 8192

GRADIENT_NAME = 'FacenetMatMulFilterConv2D'


def conv2d(inputs, weights, strides, padding):
    """``tf.nn.conv2d`` on NHWC inputs with the faster filter gradient when it applies.

    The graph holds a plain Conv2D either way (frozen and exported graphs do not change);
    only its registered gradient differs.
    """
    kernel_h, kernel_w, channels_in, channels_out = weights.get_shape().as_list()
    use_matmul = _use_matmul_gradient(inputs, strides, kernel_h, kernel_w, channels_in,
                                      channels_out)
    override = {'Conv2D': GRADIENT_NAME} if use_matmul else {}
    with tf.get_default_graph().gradient_override_map(override):
        return tf.nn.conv2d(inputs, weights, strides, padding)


def _conv2d_gradient(op, dy):
    """Input gradient as TensorFlow computes it; filter gradient as matrix products."""
    x, w = op.inputs
    strides = op.get_attr('strides')
    padding = op.get_attr('padding').decode()
    dx = tf.compat.v1.nn.conv2d_backprop_input(tf.shape(x), w, dy, strides, padding)
    return dx, filter_gradient(x, dy, w.get_shape().as_list(), strides[1], padding)


# Registered as soon as TensorFlow is imported (importing this module does not import it).
when_imported(lambda tensorflow: tensorflow.RegisterGradient(GRADIENT_NAME)(_conv2d_gradient))


def _use_matmul_gradient(inputs, strides, kernel_h, kernel_w, channels_in, channels_out):
    """True for a known spatial size, equal strides and enough channels to gain."""
    height, width = inputs.get_shape().as_list()[1:3]
    if height is None or width is None or strides[1] != strides[2]:
        return False
    return kernel_h * kernel_w == 1 or channels_in * channels_out >= MIN_CHANNEL_PRODUCT


def filter_gradient(x, dy, filter_shape, stride, padding):
    """Gradient of the loss with respect to the filter, as matrix products (see module doc)."""
    kernel_h, kernel_w, channels_in, channels_out = filter_shape
    height, width = x.get_shape().as_list()[1:3]
    out_h, top, bottom = _padding(height, kernel_h, stride, padding)
    out_w, left, right = _padding(width, kernel_w, stride, padding)
    if top or bottom or left or right:
        x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
    dy_rows = tf.reshape(dy, [-1, channels_out])
    if stride == 1:
        taps = []
        for i in range(kernel_h):
            for j in range(kernel_w):
                view = x[:, i:i + out_h, j:j + out_w, :]
                taps.append(tf.matmul(tf.reshape(view, [-1, channels_in]), dy_rows,
                                      transpose_a=True))
        gradient = taps[0] if len(taps) == 1 else tf.stack(taps)
    else:
        patches = tf.image.extract_patches(x, [1, kernel_h, kernel_w, 1], [1, stride, stride, 1],
                                           [1, 1, 1, 1], 'VALID')
        gradient = tf.matmul(tf.reshape(patches, [-1, kernel_h * kernel_w * channels_in]), dy_rows,
                             transpose_a=True)
    return tf.reshape(gradient, filter_shape)


def _padding(size, kernel, stride, padding):
    """Output size and (before, after) padding of one spatial dimension, as TensorFlow pads."""
    if padding == 'VALID':
        return (size - kernel) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2
