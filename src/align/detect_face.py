"""MTCNN face detection (Zhang et al., 2016) in TF1 graph mode, with the classic API.

The three cascaded networks (P-Net proposes candidate windows over an image pyramid, R-Net
refines them on 24x24 crops, O-Net scores 48x48 crops and places five landmarks) are the
Caffe-converted ones of the classic toolkit (``det1.npy``..``det3.npy``). The conversion kept
Caffe's axis order, so, as in the classic code, the networks take images with their x and y
axes swapped, ``(batch, width, height, 3)``, scaled as ``(pixel - 127.5) * 0.0078125``.

Public functions, as in the classic module:
    create_mtcnn(sess, model_path) -> (pnet, rnet, onet) callables
    detect_face(img, minsize, pnet, rnet, onet, threshold, factor) -> (boxes Nx5, points 10xN)
    bulk_detect_face(images, detection_window_size_ratio, pnet, rnet, onet, threshold, factor)
and the batched detector both are built on:
    detect_faces(images, minsizes, pnet, rnet, onet, threshold, factor)
The box arithmetic between the network runs (pyramid scales, candidate boxes, ``nms``,
``bbreg``, ``rerec``, ``pad``) is pure numpy in ``align.box_maths``; its names are importable
from here too, as in the classic module.

``detect_faces`` runs each network on many images at once: one session run for P-Net over
the pyramid levels of all images (same-size levels form one batch, each size goes through its
own copy of the network sharing the weights), then the R-Net crops of all images in runs of
64 and the O-Net crops in runs of 256 (small enough for the CPU's caches), fed as plain
pixels that the graph transposes and scales (``Network.run_pixels``).
A ``StageProfile`` passed in collects each step's seconds and the networks' multiply-adds.
Every per-image computation is the classic one, so a batch gives the same detections as the
images one by one; ``detect_face`` is a batch of one. Where this module departs from the
classic code (all on inputs where the classic code raised an exception):
    * a candidate box with no pixels inside the image is cropped as zeros, and a degenerate
      box (width or height below one pixel) is dropped, instead of crashing;
    * an image too small for the 12-pixel P-Net window returns no faces;
    * no faces is always ``(empty 0x5 array, empty 10x0 array)``.
Stage-two and stage-three crops are resized in float32 (the classic code used float64); on the
classic detector's reference images boxes and landmarks still agree to 1e-4 pixels.
"""
import contextlib
import functools
import importlib.util
import os
import threading
import time
from collections import Counter, defaultdict

import cv2
import numpy as np

from align.box_maths import (  # noqa: F401 - the classic names stay importable from here
    NMS_MATRIX_SIZE, PNET_CELL_SIZE, PNET_STRIDE, bbreg, generate_bounding_boxes, nms, pad,
    pnet_bbreg, pyramid_scales, rerec, scaled_size)
from toolkit.errors import FacenetError
from toolkit.safe_load import load_pickled_npy
from toolkit.tf_compat import tf

RNET_SIZE = 24
ONET_SIZE = 48
# Upper bound on the pixels of one P-Net run (batch x height x width): about 200 MB of
# activations, whatever the image sizes.
MAX_PNET_PIXELS = 2000000
# R- and O-Net crops per session run: runs of this size keep the activations in the CPU's
# caches (R-Net takes a third less CPU time per crop in runs of 64 than of 1024, O-Net a
# sixth less in runs of 32 than of 256).
RNET_CROPS_PER_RUN = 64
ONET_CROPS_PER_RUN = 32
# Level sizes of P-Net run together in one session run (each through its own copy of the
# network, sharing the weights), so that small levels keep both cores busy.
MAX_PNET_TOWERS = 16

CLASSIC_WEIGHT_FILES = {'pnet': 'det1.npy', 'rnet': 'det2.npy', 'onet': 'det3.npy'}

# The ``mtcnn`` package stores each network as a list of arrays in this order. Its
# convolution kernels are the classic ones with the first two axes swapped, and its PReLU
# slopes have shape (1, 1, C); dense layers are stored exactly as the classic ones.
PACKAGE_WEIGHT_TABLE = {
    'pnet': [('conv1', 'weights'), ('conv1', 'biases'), ('PReLU1', 'alpha'),
             ('conv2', 'weights'), ('conv2', 'biases'), ('PReLU2', 'alpha'),
             ('conv3', 'weights'), ('conv3', 'biases'), ('PReLU3', 'alpha'),
             ('conv4-2', 'weights'), ('conv4-2', 'biases'),
             ('conv4-1', 'weights'), ('conv4-1', 'biases')],
    'rnet': [('conv1', 'weights'), ('conv1', 'biases'), ('prelu1', 'alpha'),
             ('conv2', 'weights'), ('conv2', 'biases'), ('prelu2', 'alpha'),
             ('conv3', 'weights'), ('conv3', 'biases'), ('prelu3', 'alpha'),
             ('conv4', 'weights'), ('conv4', 'biases'), ('prelu4', 'alpha'),
             ('conv5-2', 'weights'), ('conv5-2', 'biases'),
             ('conv5-1', 'weights'), ('conv5-1', 'biases')],
    'onet': [('conv1', 'weights'), ('conv1', 'biases'), ('prelu1', 'alpha'),
             ('conv2', 'weights'), ('conv2', 'biases'), ('prelu2', 'alpha'),
             ('conv3', 'weights'), ('conv3', 'biases'), ('prelu3', 'alpha'),
             ('conv4', 'weights'), ('conv4', 'biases'), ('prelu4', 'alpha'),
             ('conv5', 'weights'), ('conv5', 'biases'), ('prelu5', 'alpha'),
             ('conv6-2', 'weights'), ('conv6-2', 'biases'),
             ('conv6-3', 'weights'), ('conv6-3', 'biases'),
             ('conv6-1', 'weights'), ('conv6-1', 'biases')],
}


# -- weights -------------------------------------------------------------------------------

def package_weights_dir():
    """Folder of the ``mtcnn`` package's weight files, found without importing the package.

    Raises:
        FacenetError: the package is not installed.
    """
    spec = importlib.util.find_spec('mtcnn')
    if spec is None or spec.origin is None:
        raise FacenetError('the mtcnn package (weights of the default MTCNN model) is not '
                           'installed: pip install -r requirements.txt, or pass a folder '
                           'holding det1.npy, det2.npy and det3.npy')
    return os.path.join(os.path.dirname(spec.origin), 'assets', 'weights')


def load_package_weights(weights_dir=None):
    """The ``mtcnn`` package's weights as ``{net: {layer: {param: array}}}`` in classic layout."""
    import joblib
    weights_dir = weights_dir or package_weights_dir()
    weights = {}
    for net, table in PACKAGE_WEIGHT_TABLE.items():
        path = os.path.join(weights_dir, net + '.lz4')
        try:
            arrays = joblib.load(path)
        except Exception as error:  # joblib raises many types for a bad file
            raise FacenetError('cannot read MTCNN weights %s: %s' % (path, error)) from None
        if len(arrays) != len(table):
            raise FacenetError('%s holds %d arrays, expected %d' % (path, len(arrays), len(table)))
        layers = weights[net] = {}
        for (layer, param), array in zip(table, arrays):
            array = np.asarray(array, dtype=np.float32)
            if array.ndim == 4:
                array = array.transpose(1, 0, 2, 3)
            elif param == 'alpha':
                array = array.reshape(-1)
            layers.setdefault(layer, {})[param] = array
    return weights


def load_classic_weights(model_dir):
    """The classic ``det1.npy``..``det3.npy`` of ``model_dir`` as ``{net: {layer: {param}}}``."""
    weights = {}
    for net, filename in CLASSIC_WEIGHT_FILES.items():
        path = os.path.join(os.path.expanduser(model_dir), filename)
        if not os.path.isfile(path):
            raise FacenetError('MTCNN weight file not found: %s' % path)
        data = load_pickled_npy(path)  # numpy types only: a crafted file runs nothing
        if not isinstance(data, dict) or not all(isinstance(p, dict) for p in data.values()):
            raise FacenetError('%s is not an MTCNN weight file: expected a dict of layers'
                               % path)
        try:
            weights[net] = {layer: {param: np.asarray(value, dtype=np.float32)
                                    for param, value in params.items()}
                            for layer, params in data.items()}
        except (TypeError, ValueError) as error:
            raise FacenetError('%s is not an MTCNN weight file: %s' % (path, error)) from None
    return weights


def load_weights(model_path=None):
    """Package weights when ``model_path`` is None, else the classic files in that folder."""
    return load_package_weights() if not model_path else load_classic_weights(model_path)


# -- networks ------------------------------------------------------------------------------

def _variable(name, shape):
    return tf.get_variable(name, shape, tf.float32, initializer=tf.zeros_initializer())


def _conv(inputs, kernel_size, channels_out, name):
    """VALID convolution with biases (no activation); output tensor ``<name>/BiasAdd``."""
    with tf.variable_scope(name):
        channels_in = int(inputs.get_shape()[-1])
        weights = _variable('weights', [kernel_size, kernel_size, channels_in, channels_out])
        biases = _variable('biases', [channels_out])
        net = tf.nn.conv2d(inputs, weights, [1, 1, 1, 1], 'VALID')
        return tf.nn.bias_add(net, biases)


def _prelu(inputs, name, max_form=()):
    """The classic relu(x) - alpha * relu(-x), exactly, in fewer and faster passes.

    For a layer named in ``max_form`` (every slope at most 1) it is max(x, alpha * x), the
    same numbers in two passes instead of three. ``alpha * x`` is one product per element
    however it is computed (``_per_channel_product``).
    """
    with tf.variable_scope(name):
        alpha = _variable('alpha', [int(inputs.get_shape()[-1])])
        scaled = _per_channel_product(inputs, alpha)
        if name in max_form:
            return tf.maximum(inputs, scaled)
        return tf.where(inputs >= 0, inputs, scaled)


def _per_channel_product(inputs, factors):
    """``inputs * factors`` along the last axis: on 4-D activations a 1x1 depthwise
    convolution, the same products (one per element) without TensorFlow's CPU broadcasting,
    which takes 1 to 2.3 ns an element on these shapes against 0.5 to 0.8 for the depthwise
    convolution (the networks' op time 15% less in TensorFlow's trace)."""
    if inputs.get_shape().ndims != 4:
        return inputs * factors
    kernel = tf.reshape(factors, [1, 1, -1, 1])
    return tf.nn.depthwise_conv2d_native(inputs, kernel, [1, 1, 1, 1], 'VALID')


def _max_pool(inputs, size, stride, name, padding='SAME'):
    return tf.nn.max_pool2d(inputs, size, stride, padding, name=name)


def _fully_connected(inputs, channels_out, name):
    """Dense layer on the flattened input; output tensor ``<name>/<name>``."""
    with tf.variable_scope(name):
        shape = inputs.get_shape().as_list()
        size = int(np.prod(shape[1:]))
        flat = tf.reshape(inputs, [-1, size]) if len(shape) > 2 else inputs
        weights = _variable('weights', [size, channels_out])
        biases = _variable('biases', [channels_out])
        return tf.nn.bias_add(tf.matmul(flat, weights), biases, name=name)


def _softmax(logits, axis, name):
    """The classic softmax: exp(x - max) normalized along ``axis``."""
    exp = tf.exp(logits - tf.reduce_max(logits, axis, keepdims=True))
    return tf.div(exp, tf.reduce_sum(exp, axis, keepdims=True), name=name)


def pnet_graph(data, prelu_max_form=()):
    """P-Net, fully convolutional: N x W x H x 3 -> (regression, probabilities).

    Returns:
        (N x W' x H' x 4 box offsets, N x W' x H' x 2 softmax), W' = ceil((W - 2) / 2) - 4.
    """
    net = _prelu(_conv(data, 3, 10, 'conv1'), 'PReLU1', prelu_max_form)      # N x W-2 x H-2 x 10
    net = _max_pool(net, 2, 2, 'pool1')                       # N x W1 x H1 x 10
    net = _prelu(_conv(net, 3, 16, 'conv2'), 'PReLU2', prelu_max_form)       # N x W1-2 x H1-2 x 16
    net = _prelu(_conv(net, 3, 32, 'conv3'), 'PReLU3', prelu_max_form)       # N x W' x H' x 32
    prob = _softmax(_conv(net, 1, 2, 'conv4-1'), 3, 'prob1')  # N x W' x H' x 2
    regression = _conv(net, 1, 4, 'conv4-2')                  # N x W' x H' x 4
    return regression, prob


def rnet_graph(data, prelu_max_form=()):
    """R-Net: N x 24 x 24 x 3 -> (N x 4 box offsets, N x 2 softmax)."""
    net = _prelu(_conv(data, 3, 28, 'conv1'), 'prelu1', prelu_max_form)      # N x 22 x 22 x 28
    net = _max_pool(net, 3, 2, 'pool1')                       # N x 11 x 11 x 28
    net = _prelu(_conv(net, 3, 48, 'conv2'), 'prelu2', prelu_max_form)       # N x 9 x 9 x 48
    net = _max_pool(net, 3, 2, 'pool2', 'VALID')              # N x 4 x 4 x 48
    net = _prelu(_conv(net, 2, 64, 'conv3'), 'prelu3', prelu_max_form)       # N x 3 x 3 x 64
    net = _prelu(_fully_connected(net, 128, 'conv4'), 'prelu4', prelu_max_form)  # N x 128
    prob = _softmax(_fully_connected(net, 2, 'conv5-1'), 1, 'prob1')
    regression = _fully_connected(net, 4, 'conv5-2')
    return regression, prob


def onet_graph(data, prelu_max_form=()):
    """O-Net: N x 48 x 48 x 3 -> (N x 4 box offsets, N x 10 landmarks, N x 2 softmax)."""
    net = _prelu(_conv(data, 3, 32, 'conv1'), 'prelu1', prelu_max_form)      # N x 46 x 46 x 32
    net = _max_pool(net, 3, 2, 'pool1')                       # N x 23 x 23 x 32
    net = _prelu(_conv(net, 3, 64, 'conv2'), 'prelu2', prelu_max_form)       # N x 21 x 21 x 64
    net = _max_pool(net, 3, 2, 'pool2', 'VALID')              # N x 10 x 10 x 64
    net = _prelu(_conv(net, 3, 64, 'conv3'), 'prelu3', prelu_max_form)       # N x 8 x 8 x 64
    net = _max_pool(net, 2, 2, 'pool3')                       # N x 4 x 4 x 64
    net = _prelu(_conv(net, 2, 128, 'conv4'), 'prelu4', prelu_max_form)      # N x 3 x 3 x 128
    net = _prelu(_fully_connected(net, 256, 'conv5'), 'prelu5', prelu_max_form)  # N x 256
    prob = _softmax(_fully_connected(net, 2, 'conv6-1'), 1, 'prob1')
    regression = _fully_connected(net, 4, 'conv6-2')
    landmarks = _fully_connected(net, 10, 'conv6-3')
    return regression, landmarks, prob


NETWORKS = (('pnet', pnet_graph, (None, None, None, 3)),
            ('rnet', rnet_graph, (None, RNET_SIZE, RNET_SIZE, 3)),
            ('onet', onet_graph, (None, ONET_SIZE, ONET_SIZE, 3)))


def pnet_multiply_adds(height, width):
    """Multiply-adds of P-Net's convolutions on one height x width image (the layer shapes
    of ``pnet_graph``; biases, PReLU, pooling and softmax are not counted)."""
    h, w = height - 2, width - 2                    # conv1 3x3, 3 -> 10
    total = h * w * 9 * 3 * 10
    h, w = -(-h // 2) - 2, -(-w // 2) - 2           # pool1 2x2/2 SAME, conv2 3x3, 10 -> 16
    total += h * w * 9 * 10 * 16
    h, w = h - 2, w - 2                             # conv3 3x3, 16 -> 32; conv4-1, conv4-2 1x1
    return total + h * w * (9 * 16 * 32 + 32 * (2 + 4))


# Per 24 x 24 (48 x 48) crop, counted as for P-Net.
RNET_MULTIPLY_ADDS = (22 * 22 * 9 * 3 * 28 + 9 * 9 * 9 * 28 * 48 + 3 * 3 * 4 * 48 * 64
                      + 576 * 128 + 128 * (2 + 4))
ONET_MULTIPLY_ADDS = (46 * 46 * 9 * 3 * 32 + 21 * 21 * 9 * 32 * 64 + 8 * 8 * 9 * 64 * 64
                      + 3 * 3 * 4 * 64 * 128 + 1152 * 256 + 256 * (2 + 4 + 10))


def _load_variables(sess, scope, layers):
    """Assign ``layers`` to the variables of ``scope`` in one session run."""
    _run_assignments(sess, _assignments(scope, layers))


def _run_assignments(sess, assignments):
    sess.run(list(assignments), {assign.inputs[1]: value for assign, value in assignments.items()})


def _assignments(scope, layers):
    """``{initializer (assign) op: value}`` giving ``layers`` to the variables of ``scope``."""
    variables = {v.op.name: v for v in tf.global_variables(scope=scope + '/')}
    expected = set(variables)
    feed = {}  # initializer (assign) op -> value
    for layer, params in layers.items():
        for param, value in params.items():
            name = '%s/%s/%s' % (scope, layer, param)
            variable = variables.get(name)
            if variable is None:
                continue  # the classic loader also ignored unknown entries
            if tuple(variable.shape.as_list()) != value.shape:
                raise FacenetError('MTCNN weight %s has shape %s, expected %s'
                                   % (name, value.shape, tuple(variable.shape.as_list())))
            feed[variable.initializer] = value
            expected.discard(name)
    if expected:
        raise FacenetError('MTCNN weights lack %s' % ', '.join(sorted(expected)))
    return feed


def max_form_prelus(layers):
    """Names of the PReLU layers whose slopes are all at most 1 (see ``_prelu``)."""
    return frozenset(name for name, params in layers.items()
                     if 'alpha' in params and params['alpha'].max() <= 1)


def _pixels_to_input(pixels):
    """N x H x W x 3 pixels (any dtype) -> the networks' transposed, scaled float32 input.

    Scaled before the transpose (the same numbers): on cast-then-transpose, TensorFlow's graph
    optimizer moves the transpose onto the uint8 pixels, where oneDNN logs an error line
    ("supports DT_UINT8 only on platforms with AVX-512") at the first run."""
    data = (tf.cast(pixels, tf.float32) - 127.5) * 0.0078125
    return tf.transpose(data, [0, 2, 1, 3])


class Network:
    """One MTCNN network in a session, called as in the classic module.

    ``net(x)`` runs it on a batch in the networks' own layout (transposed, scaled float32).
    ``net.run_pixels(batches)`` runs it on several plain N x H x W x 3 pixel batches at once
    (one session run; the graph transposes and scales): for P-Net the pyramid levels of
    many images, each level size its own batch, for R- and O-Net one batch of crops.
    """

    def __init__(self, sess, scope, graph_fn, input_shape, pixel_dtype):
        self.session = sess
        self.scope = scope
        self._graph_fn = graph_fn
        self._pixel_shape = (None, input_shape[2], input_shape[1], 3)
        self._pixel_dtype = pixel_dtype
        self.pixel_dtype = np.dtype(pixel_dtype.as_numpy_dtype)
        self._towers = []  # (pixels placeholder, outputs), grown on demand
        self._lock = threading.Lock()
        self._first_runs = {}  # number of batches -> lock held through the first such run
        self._ran = set()  # numbers of batches run once
        self._network_nodes = None  # see _nodes_computed_from, once a tower is made
        with tf.variable_scope(scope):
            self.input = tf.placeholder(tf.float32, input_shape, 'input')
            self.outputs = graph_fn(self.input)

    def __call__(self, images):
        return self.session.run(self.outputs, feed_dict={self.input: images})

    def run_pixels(self, batches):
        """Outputs (numpy, as ``net(x)``) for each pixel batch, from one session run."""
        towers = self._pixel_towers(len(batches))
        feed = {pixels: batch for (pixels, _), batch in zip(towers, batches)}
        fetches = [outputs for _, outputs in towers]
        if len(batches) in self._ran:
            return self.session.run(fetches, feed)
        # TensorFlow prepares a run's graph (optimizes it, creates its kernels) at the first
        # run of each set of inputs, in every thread that asks before it is stored: other
        # threads wait for the first instead of doing the same work again.
        with self._lock:
            first_run = self._first_runs.setdefault(len(batches), threading.Lock())
        with first_run:
            outputs = self.session.run(fetches, feed)
            self._ran.add(len(batches))
        return outputs

    def prepare(self):
        """Run once on one blank input, so that TensorFlow prepares this network's session
        run (0.1 to 0.3 CPU s) now, e.g. while another thread runs another network, and
        not at the first real run. For R- and O-Net (fixed input size)."""
        height, width = self._pixel_shape[1:3]
        self.run_pixels([np.zeros((1, height, width, 3), self.pixel_dtype)])

    def _pixel_towers(self, count):
        """The first ``count`` copies of the network on pixel inputs (shared weights)."""
        with self._lock:
            while len(self._towers) < count:
                self._towers.append(self._pixel_tower(len(self._towers)))
            return self._towers[:count]

    def _pixel_tower(self, index):
        """One more copy of the network, on a pixel placeholder: the network's own nodes
        imported again (several times faster than building them op by op), fed by the
        pixels' conversion and using the same weights."""
        if self._network_nodes is None:
            self._network_nodes = _nodes_computed_from(self.input)
        graph_def, inputs = self._network_nodes
        with self.session.graph.as_default():
            pixels = tf.placeholder(self._pixel_dtype, self._pixel_shape,
                                    '%s_pixels_%d' % (self.scope, index))
            inputs = dict(inputs, **{self.input.name: _pixels_to_input(pixels)})
            outputs = tf.import_graph_def(graph_def, input_map=inputs,
                                          return_elements=[t.name for t in self.outputs],
                                          name='%s_tower_%d' % (self.scope, index))
        return pixels, tuple(outputs)


def _nodes_computed_from(tensor):
    """``(GraphDef, {tensor name: tensor})``: the operations that depend on ``tensor`` (a
    network's input), and the tensors from outside them that they read (the input, the
    weights, constants)."""
    found, stack = {}, [tensor.op]
    while stack:
        for output in stack.pop().outputs:
            for consumer in output.consumers():
                if consumer.name not in found:
                    found[consumer.name] = consumer
                    stack.append(consumer)
    graph_def = tf.GraphDef()
    graph_def.versions.CopyFrom(tensor.graph.graph_def_versions)
    graph_def.node.extend(op.node_def for op in found.values())
    inputs = {t.name: t for op in found.values() for t in op.inputs if t.op.name not in found}
    return graph_def, inputs


def create_mtcnn(sess, model_path=None):
    """Build P-, R- and O-Net in ``sess.graph`` and load their weights.

    Args:
        sess: the session to hold the networks (its graph gets scopes pnet, rnet, onet).
        model_path: None for the weights shipped in the ``mtcnn`` package, or a folder with
            the classic ``det1.npy``, ``det2.npy``, ``det3.npy``.

    Returns:
        ``(pnet, rnet, onet)``: ``Network`` objects, called as the classic functions on a
        batch of transposed, scaled images: ``pnet(x) -> (regression, prob)``,
        ``rnet(x) -> (regression, prob)``, ``onet(x) -> (regression, landmarks, prob)``.

    Raises:
        FacenetError: weights missing, unreadable or of the wrong shape.
    """
    weights = load_weights(model_path)
    networks, assignments = [], {}
    with sess.graph.as_default():
        for scope, graph_fn, input_shape in NETWORKS:
            # P-Net sees resized uint8 images, R- and O-Net float32 crops (classic rounding).
            pixel_dtype = tf.uint8 if scope == 'pnet' else tf.float32
            build = functools.partial(graph_fn, prelu_max_form=max_form_prelus(weights[scope]))
            networks.append(Network(sess, scope, build, input_shape, pixel_dtype))
            assignments.update(_assignments(scope, weights[scope]))
        _run_assignments(sess, assignments)  # one session run (each prepares its graph)
    return tuple(networks)


# -- crops and network input ----------------------------------------------------------------

def imresample(img, size):
    """Resize to ``size`` = (height, width) with pixel-area averaging, as the classic code."""
    return cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def crop_patches(img, boxes, size):
    """Crop integral ``boxes`` from ``img`` (zero padded outside it) and resize to ``size``.

    Args:
        img: H x W x 3 image (uint8 or float); each crop is resized in float32.
        boxes: n x >=4 integral boxes, 1-based inclusive coordinates.

    Returns:
        n x size x size x 3 float32 patches and a boolean mask of the usable boxes (a box
        narrower or shorter than one pixel gives no patch).
    """
    height, width = img.shape[:2]
    dy, edy, dx, edx, y, ey, x, ex, tmpw, tmph = pad(boxes, width, height)
    patches = np.zeros((boxes.shape[0], size, size, 3), dtype=np.float32)
    usable = (tmpw > 0) & (tmph > 0)
    if not usable.any():
        return patches, usable
    pixels = img.astype(np.float32)  # once: crops inside the image are resized as views
    for k in np.flatnonzero(usable):
        source = pixels[y[k] - 1:ey[k], x[k] - 1:ex[k]]
        if source.shape[:2] != (tmph[k], tmpw[k]):  # partly outside: pad with zeros
            patch = np.zeros((tmph[k], tmpw[k], 3), dtype=np.float32)
            target = patch[max(dy[k] - 1, 0):max(edy[k], 0), max(dx[k] - 1, 0):max(edx[k], 0)]
            if target.shape == source.shape and source.size:
                target[...] = source
            source = patch
        cv2.resize(source, (size, size), dst=patches[k], interpolation=cv2.INTER_AREA)
    return patches, usable


def _network_input(images):
    """N x H x W x 3 pixels -> the networks' transposed, scaled float32 input."""
    transposed = np.asarray(images).transpose(0, 2, 1, 3).astype(np.float32)
    return (transposed - 127.5) * 0.0078125


def _run_on_pixels(net, batches):
    """``net``'s outputs for each N x H x W x 3 pixel batch: one session run for a
    ``Network`` fed its pixel type, else one classic call per batch."""
    if all(batch.dtype == getattr(net, 'pixel_dtype', None) for batch in batches):
        return net.run_pixels(batches)
    return [net(_network_input(batch)) for batch in batches]


def _run_in_chunks(net, inputs, chunk_size):
    """Run ``net`` on pixel ``inputs``, one session run per chunk, and concatenate each of
    its outputs."""
    chunks = [inputs[start:start + chunk_size] for start in range(0, len(inputs), chunk_size)]
    outputs = [_run_on_pixels(net, [chunk])[0] for chunk in chunks]
    return [np.concatenate(output) for output in zip(*outputs)]


# -- the detector -------------------------------------------------------------------------------

class StageProfile:
    """Where detection time goes: wall seconds and work per step, summed over calls.

    ``seconds`` per step: ``pnet_resize``, ``pnet_run``, ``pnet_boxes``, ``rnet_crop``,
    ``rnet_run``, ``rnet_boxes``, ``onet_crop``, ``onet_run``, ``onet_boxes``;
    ``cpu_seconds``: the process's CPU seconds during each step (the step's own cost when
    one thread works at a time; a loaded machine changes it less than the wall seconds).
    ``counts``: ``images``, ``session_runs``, ``rnet_crops``, ``onet_crops``, and
    ``pnet_multiply_adds``, ``rnet_multiply_adds``, ``onet_multiply_adds``. Threads may
    share one profile (their seconds add up).
    """

    def __init__(self):
        self.seconds = Counter()
        self.cpu_seconds = Counter()
        self.counts = Counter()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def timed(self, step):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.add_seconds(step, time.perf_counter() - start, time.process_time() - cpu)

    def add_seconds(self, step, seconds, cpu_seconds=0.0):
        with self._lock:
            self.seconds[step] += seconds
            self.cpu_seconds[step] += cpu_seconds

    def add(self, **counts):
        with self._lock:
            self.counts.update(counts)


def pyramid_levels(img, minsize, factor):
    """P-Net's input for one RGB uint8 image: ``{(height, width): resized image}``, one entry
    per pyramid level, resized as ``detect_faces`` does. Callers may compute it ahead (e.g. in
    reader threads) and pass it to ``detect_faces(..., levels=)``."""
    height, width = img.shape[:2]
    sizes = (scaled_size(height, width, scale)
             for scale in pyramid_scales(height, width, minsize, factor))
    return {size: imresample(img, size) for size in sizes}


def _level(images, levels, index, shape):
    """Image ``index`` resized to ``shape``: taken from ``levels`` when given there."""
    given = levels[index] if levels is not None and levels[index] is not None else {}
    level = given.get(shape)
    return imresample(images[index], shape) if level is None else level


def _pnet_jobs(images, minsizes, factor):
    """Pyramid levels of all images grouped by size: ``{(hs, ws): [(image, level, scale)]}``."""
    jobs = defaultdict(list)
    for index, (img, minsize) in enumerate(zip(images, minsizes)):
        height, width = img.shape[:2]
        for level, scale in enumerate(pyramid_scales(height, width, minsize, factor)):
            jobs[scaled_size(height, width, scale)].append((index, level, scale))
    return jobs


def _pnet_runs(images, minsizes, factor, max_pixels):
    """P-Net's work in session runs of at most ``max_pixels`` pixels (and MAX_PNET_TOWERS
    level sizes): a list of runs, each a list of ``(shape, [(image, level, scale)])``."""
    runs, run, run_pixels = [], [], 0
    for shape, jobs in _pnet_jobs(images, minsizes, factor).items():
        per_batch = max(1, max_pixels // (shape[0] * shape[1]))
        for start in range(0, len(jobs), per_batch):
            chunk = jobs[start:start + per_batch]
            pixels = len(chunk) * shape[0] * shape[1]
            if run and (run_pixels + pixels > max_pixels or len(run) == MAX_PNET_TOWERS):
                runs.append(run)
                run, run_pixels = [], 0
            run.append((shape, chunk))
            run_pixels += pixels
    return runs + [run] if run else runs


def _stage_one(images, minsizes, pnet, threshold, factor, max_pixels, profile, levels=None):
    """P-Net over every pyramid level; per image: NMS, regression, squares (n x 5 boxes)."""
    found = [dict() for _ in images]  # image -> {level: boxes}
    for run in _pnet_runs(images, minsizes, factor, max_pixels):
        with profile.timed('pnet_resize'):
            batches = [np.stack([_level(images, levels, index, shape) for index, _, _ in chunk])
                       for shape, chunk in run]
        with profile.timed('pnet_run'):
            outputs = _run_on_pixels(pnet, batches)
        profile.add(session_runs=1, pnet_multiply_adds=sum(
            len(chunk) * pnet_multiply_adds(*shape) for shape, chunk in run))
        with profile.timed('pnet_boxes'):
            for (_, chunk), (regression, prob) in zip(run, outputs):
                for k, (index, level, scale) in enumerate(chunk):
                    boxes = generate_bounding_boxes(prob[k, :, :, 1], regression[k], scale,
                                                    threshold)
                    found[index][level] = boxes[nms(boxes, 0.5, 'Union')]
    with profile.timed('pnet_boxes'):
        return [_merge_levels(levels) for levels in found]


def _merge_levels(levels):
    """One image's stage-one candidates from its per-level boxes: NMS across levels,
    regression, squares with integral corners (n x 5)."""
    boxes = np.concatenate([levels[level] for level in sorted(levels)] or [np.empty((0, 9))])
    if boxes.shape[0] == 0:
        return np.empty((0, 5))
    boxes = rerec(pnet_bbreg(boxes[nms(boxes, 0.7, 'Union')]))
    boxes[:, 0:4] = np.fix(boxes[:, 0:4])
    return boxes


def _crop_all(images, boxes_per_image, size):
    """Patches of every image's boxes in one array, plus each image's usable-box mask."""
    patches, masks = [], []
    for img, boxes in zip(images, boxes_per_image):
        image_patches, usable = crop_patches(img, boxes, size)
        patches.append(image_patches)
        masks.append(usable)
    return np.concatenate(patches), masks


def _split(array, boxes_per_image):
    bounds = np.cumsum([len(boxes) for boxes in boxes_per_image])[:-1]
    return np.split(array, bounds)


def _stage_two(images, candidates, rnet, threshold, profile):
    """R-Net on every candidate of every image in one batch; refined squares per image."""
    nrof_crops = sum(len(boxes) for boxes in candidates)
    if nrof_crops == 0:
        return candidates
    with profile.timed('rnet_crop'):
        patches, masks = _crop_all(images, candidates, RNET_SIZE)
    with profile.timed('rnet_run'):
        regression, prob = _run_in_chunks(rnet, patches, RNET_CROPS_PER_RUN)
    profile.add(session_runs=-(-nrof_crops // RNET_CROPS_PER_RUN), rnet_crops=nrof_crops,
                rnet_multiply_adds=nrof_crops * RNET_MULTIPLY_ADDS)
    refined = []
    with profile.timed('rnet_boxes'):
        for boxes, usable, reg, score in zip(candidates, masks, _split(regression, candidates),
                                             _split(prob[:, 1], candidates)):
            keep = (score > threshold) & usable
            boxes = np.hstack([boxes[keep, 0:4], score[keep, None]])
            if boxes.shape[0] > 0:
                pick = nms(boxes, 0.7, 'Union')
                boxes = rerec(bbreg(boxes[pick], reg[keep][pick]))
            refined.append(boxes)
    return refined


def _stage_three(images, candidates, onet, threshold, profile):
    """O-Net on every candidate in one batch; final boxes (n x 5) and landmarks (10 x n)."""
    empty = (np.empty((0, 5)), np.empty((10, 0), dtype=np.float32))
    nrof_crops = sum(len(boxes) for boxes in candidates)
    if nrof_crops == 0:
        return [empty for _ in candidates]
    candidates = [np.fix(boxes[:, 0:4]) for boxes in candidates]
    with profile.timed('onet_crop'):
        patches, masks = _crop_all(images, candidates, ONET_SIZE)
    with profile.timed('onet_run'):
        regression, landmarks, prob = _run_in_chunks(onet, patches, ONET_CROPS_PER_RUN)
    profile.add(session_runs=-(-nrof_crops // ONET_CROPS_PER_RUN), onet_crops=nrof_crops,
                onet_multiply_adds=nrof_crops * ONET_MULTIPLY_ADDS)
    with profile.timed('onet_boxes'):
        return [_final_faces(boxes, usable, reg, marks, score, threshold, empty)
                for boxes, usable, reg, marks, score in zip(
                    candidates, masks, _split(regression, candidates),
                    _split(landmarks, candidates), _split(prob[:, 1], candidates))]


def _final_faces(boxes, usable, reg, marks, score, threshold, empty):
    """One image's faces from O-Net's outputs: score threshold, landmarks in image
    coordinates, regression, NMS by the smaller box."""
    keep = (score > threshold) & usable
    if not keep.any():
        return empty
    boxes = np.hstack([boxes[keep], score[keep, None]])
    points = marks[keep].T.copy()  # 10 x n, float32 like the classic output
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    points[0:5, :] = width * points[0:5, :] + boxes[:, 0] - 1
    points[5:10, :] = height * points[5:10, :] + boxes[:, 1] - 1
    boxes = bbreg(boxes, reg[keep])
    pick = nms(boxes, 0.7, 'Min')
    return boxes[pick], points[:, pick]


def detect_faces(images, minsizes, pnet, rnet, onet, threshold, factor,
                 max_pnet_pixels=MAX_PNET_PIXELS, profile=None, levels=None):
    """Detect faces in many RGB images with one network run per shape and stage.

    Args:
        images: sequence of H x W x 3 RGB uint8 arrays (sizes may differ).
        minsizes: smallest face size in pixels, one per image (or one number for all).
        pnet, rnet, onet: the functions from ``create_mtcnn``.
        threshold: the three stages' score thresholds, e.g. [0.6, 0.7, 0.7].
        factor: pyramid scale step, e.g. 0.709.
        max_pnet_pixels: cap on the images x height x width of one P-Net run (memory).
        profile: a ``StageProfile`` to add this call's step times and work to.
        levels: optional, one ``pyramid_levels`` result (or None) per image: the P-Net
            inputs computed ahead (levels missing from it are resized here).

    Returns:
        One ``(boxes, points)`` per image: n x 5 (x1, y1, x2, y2, score) and 10 x n
        (x1..x5, y1..y5 of eyes, nose and mouth corners), as ``detect_face``.
    """
    images = [np.asarray(img) for img in images]
    if np.isscalar(minsizes):
        minsizes = [minsizes] * len(images)
    if not images:
        return []
    profile = profile or StageProfile()
    profile.add(images=len(images))
    candidates = _stage_one(images, minsizes, pnet, threshold[0], factor, max_pnet_pixels,
                            profile, levels)
    candidates = _stage_two(images, candidates, rnet, threshold[1], profile)
    return _stage_three(images, candidates, onet, threshold[2], profile)


def detect_face(img, minsize, pnet, rnet, onet, threshold, factor):
    """Detect faces in one RGB uint8 image (the classic function).

    Returns:
        ``(boxes, points)``: n x 5 boxes (x1, y1, x2, y2, score) and 10 x n landmarks.
    """
    return detect_faces([img], [minsize], pnet, rnet, onet, threshold, factor)[0]


def bulk_detect_face(images, detection_window_size_ratio, pnet, rnet, onet, threshold, factor):
    """Detect faces in many images, the smallest face a fraction of each image's shorter side.

    Returns:
        One entry per image: None when no face is found, else ``(boxes, points)``.
    """
    minsizes = [max(int(detection_window_size_ratio * min(img.shape[0], img.shape[1])), 12)
                for img in images]
    results = detect_faces(images, minsizes, pnet, rnet, onet, threshold, factor)
    return [result if result[0].shape[0] > 0 else None for result in results]
