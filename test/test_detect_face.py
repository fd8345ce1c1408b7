"""align.detect_face: weights, network layout, box arithmetic, and fidelity to the classic detector."""
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import ROOT, shared_path
from toolkit.data.folders import read_rgb_image
from toolkit.errors import FacenetError
from toolkit.tf_compat import tf
from align import box_maths, detect_face

MINSIZE = 20
THRESHOLD = [0.6, 0.7, 0.7]
FACTOR = 0.709


@pytest.fixture(scope='module')
def nets():
    graph = tf.Graph()
    with tf.Session(graph=graph) as sess:
        yield detect_face.create_mtcnn(sess, None)


def _lfw_image(relative_path):
    return read_rgb_image(os.path.join(shared_path('data', 'lfw', 'images_deepfunneled'),
                                       relative_path))


# -- weights and graph ----------------------------------------------------------------------

def test_package_weights_equal_the_classic_npy_files():
    classic = detect_face.load_classic_weights(shared_path('data', 'mtcnn'))
    package = detect_face.load_package_weights()
    assert sorted(classic) == sorted(package) == ['onet', 'pnet', 'rnet']
    for net in classic:
        assert sorted(classic[net]) == sorted(package[net])
        for layer, params in classic[net].items():
            assert sorted(params) == sorted(package[net][layer])
            for param, value in params.items():
                np.testing.assert_array_equal(package[net][layer][param], value,
                                              err_msg='%s/%s/%s' % (net, layer, param))


def test_classic_layer_names_shapes_and_output_tensors():
    with tf.Graph().as_default() as graph, tf.Session() as sess:
        detect_face.create_mtcnn(sess, None)
        shapes = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
        for name in ('pnet/conv4-2/BiasAdd:0', 'pnet/prob1:0', 'rnet/conv5-2/conv5-2:0',
                     'rnet/prob1:0', 'onet/conv6-2/conv6-2:0', 'onet/conv6-3/conv6-3:0',
                     'onet/prob1:0', 'pnet/input:0', 'rnet/input:0', 'onet/input:0'):
            graph.get_tensor_by_name(name)
    assert len(shapes) == 13 + 16 + 21
    assert shapes['pnet/conv1/weights'] == [3, 3, 3, 10]
    assert shapes['pnet/PReLU3/alpha'] == [32]
    assert shapes['pnet/conv4-1/weights'] == [1, 1, 32, 2]
    assert shapes['rnet/conv4/weights'] == [576, 128]
    assert shapes['rnet/prelu4/alpha'] == [128]
    assert shapes['onet/conv5/weights'] == [1152, 256]
    assert shapes['onet/conv6-3/biases'] == [10]


def test_output_shapes(nets):
    pnet, rnet, onet = nets
    regression, prob = pnet(np.zeros((2, 40, 30, 3), np.float32))
    assert regression.shape == (2, 15, 10, 4) and prob.shape == (2, 15, 10, 2)
    np.testing.assert_allclose(prob.sum(axis=3), 1.0, rtol=1e-6)
    regression, prob = rnet(np.zeros((3, 24, 24, 3), np.float32))
    assert regression.shape == (3, 4) and prob.shape == (3, 2)
    regression, landmarks, prob = onet(np.zeros((1, 48, 48, 3), np.float32))
    assert (regression.shape, landmarks.shape, prob.shape) == ((1, 4), (1, 10), (1, 2))


def test_bad_model_folder(tmp_path):
    with pytest.raises(FacenetError, match='det1.npy'):
        detect_face.load_weights(str(tmp_path))
    (tmp_path / 'det1.npy').write_bytes(b'not numpy')
    with pytest.raises(FacenetError, match='cannot read'):
        detect_face.load_classic_weights(str(tmp_path))


def test_classic_npy_folder_gives_the_same_detections(nets):
    img = _lfw_image('AJ_Cook/AJ_Cook_0001.jpg')
    with tf.Graph().as_default(), tf.Session() as sess:
        classic_nets = detect_face.create_mtcnn(sess, shared_path('data', 'mtcnn'))
        boxes, points = detect_face.detect_face(img, MINSIZE, *classic_nets, THRESHOLD, FACTOR)
    expected_boxes, expected_points = detect_face.detect_face(img, MINSIZE, *nets, THRESHOLD,
                                                              FACTOR)
    np.testing.assert_allclose(boxes, expected_boxes, atol=1e-4)
    np.testing.assert_allclose(points, expected_points, atol=1e-4)


# -- crops ----------------------------------------------------------------------------------

def test_box_arithmetic_keeps_its_classic_names_in_detect_face():
    for name in ('nms', 'bbreg', 'rerec', 'pad', 'pnet_bbreg', 'generate_bounding_boxes',
                 'pyramid_scales', 'scaled_size'):
        assert getattr(detect_face, name) is getattr(box_maths, name), name
    square = detect_face.rerec(np.array([[10.0, 20.0, 29.0, 59.0, 0.9]]))
    np.testing.assert_allclose(square, [[0.0, 20.0, 39.0, 59.0, 0.9]])


def test_crop_patches_pads_outside_with_zeros():
    img = np.full((20, 30, 3), 200, np.float32)
    boxes = np.array([[-9.0, 1.0, 10.0, 20.0],   # left half outside the image
                      [5.0, 5.0, 4.0, 9.0],      # zero width: dropped
                      [40.0, 1.0, 49.0, 10.0]])  # entirely outside: all zeros
    patches, usable = detect_face.crop_patches(img, boxes, 4)
    assert usable.tolist() == [True, False, True]
    np.testing.assert_array_equal(patches[0][:, :2], 0)
    np.testing.assert_array_equal(patches[0][:, 2:], 200)
    np.testing.assert_array_equal(patches[2], 0)


# -- detection -------------------------------------------------------------------------------

def _reference():
    with open(shared_path('reference', 'mtcnn_detections.json')) as handle:
        return json.load(handle)


def test_fidelity_to_the_classic_detector(nets):
    reference = _reference()
    images = [_lfw_image(entry['image']) for entry in reference]
    results = detect_face.detect_faces(images, MINSIZE, *nets, THRESHOLD, FACTOR)
    box_errors, point_errors = [], []
    for entry, (boxes, points) in zip(reference, results):
        expected_boxes = np.array(entry['boxes']).reshape(-1, 5)
        expected_points = np.array(entry['points']).reshape(-1, 10)
        assert boxes.shape[0] == expected_boxes.shape[0], entry['image']
        assert points.shape == (10, boxes.shape[0])
        box_errors.extend(np.abs(boxes[:, :4] - expected_boxes[:, :4]).max(axis=1))
        point_errors.extend(np.abs(points.T - expected_points).max(axis=1))
        np.testing.assert_allclose(boxes[:, 4], expected_boxes[:, 4], atol=1e-3)
    box_errors, point_errors = np.array(box_errors), np.array(point_errors)
    assert len(box_errors) >= 133
    assert np.mean(box_errors <= 1) >= 0.99 and box_errors.max() <= 3
    assert np.mean(point_errors <= 1) >= 0.99 and point_errors.max() <= 3
    assert np.median(box_errors) < 1e-3   # in practice the same numbers


def test_batched_detection_equals_image_by_image(nets):
    paths = [entry['image'] for entry in _reference()[:12]]
    images = [_lfw_image(path) for path in paths]
    # Different sizes, so that pyramid levels are grouped and split across P-Net runs.
    images[3] = cv2.resize(images[3], (320, 300), interpolation=cv2.INTER_LINEAR)
    images[7] = cv2.resize(images[7], (200, 180), interpolation=cv2.INTER_LINEAR)
    images.append(np.zeros((8, 8, 3), np.uint8))
    batched = detect_face.detect_faces(images, MINSIZE, *nets, THRESHOLD, FACTOR,
                                       max_pnet_pixels=60000)
    assert len(batched) == len(images)
    for img, (boxes, points) in zip(images, batched):
        single_boxes, single_points = detect_face.detect_face(img, MINSIZE, *nets, THRESHOLD,
                                                              FACTOR)
        np.testing.assert_allclose(boxes, single_boxes, atol=1e-3)
        np.testing.assert_allclose(points, single_points, atol=1e-3)
    assert sum(len(boxes) for boxes, _ in batched) >= 12


def test_pyramid_levels_given_ahead_give_the_same_detections(nets):
    images = [_lfw_image(entry['image']) for entry in _reference()[:4]]
    images[1] = cv2.resize(images[1], (200, 180), interpolation=cv2.INTER_LINEAR)
    levels = [detect_face.pyramid_levels(img, MINSIZE, FACTOR) for img in images]
    assert sorted(levels[1]) == sorted(detect_face.scaled_size(180, 200, scale) for scale in
                                       detect_face.pyramid_scales(180, 200, MINSIZE, FACTOR))
    levels[2] = None  # resized in the detector, as without levels
    del levels[3][max(levels[3])]  # a missing level too
    profile = detect_face.StageProfile()
    ahead = detect_face.detect_faces(images, MINSIZE, *nets, THRESHOLD, FACTOR, levels=levels,
                                     profile=profile)
    plain = detect_face.detect_faces(images, MINSIZE, *nets, THRESHOLD, FACTOR)
    for (boxes, points), (plain_boxes, plain_points) in zip(ahead, plain):
        np.testing.assert_array_equal(boxes, plain_boxes)
        np.testing.assert_array_equal(points, plain_points)
    assert sum(len(boxes) for boxes, _ in ahead) >= 4


def test_no_face_tiny_image_and_bulk(nets):
    boxes, points = detect_face.detect_face(np.zeros((5, 5, 3), np.uint8), MINSIZE, *nets,
                                            THRESHOLD, FACTOR)
    assert boxes.shape == (0, 5) and points.shape == (10, 0)
    boxes, points = detect_face.detect_face(np.full((120, 100, 3), 128, np.uint8), MINSIZE,
                                            *nets, THRESHOLD, FACTOR)
    assert boxes.shape == (0, 5) and points.shape == (10, 0)
    face = _lfw_image('AJ_Cook/AJ_Cook_0001.jpg')
    bulk = detect_face.bulk_detect_face([face, np.full((250, 250, 3), 128, np.uint8)], 0.1,
                                        *nets, THRESHOLD, FACTOR)
    assert bulk[1] is None
    # The smallest face is 0.1 x 250 = 25 pixels.
    boxes, points = bulk[0]
    expected_boxes, _ = detect_face.detect_face(face, 25, *nets, THRESHOLD, FACTOR)
    np.testing.assert_allclose(boxes, expected_boxes, atol=1e-3)
    assert points.shape == (10, 1)
    assert detect_face.detect_faces([], MINSIZE, *nets, THRESHOLD, FACTOR) == []


# -- the fast path and its accounting ---------------------------------------------------------

def test_few_session_runs_give_the_classic_call_detections(nets):
    images = [_lfw_image(entry['image']) for entry in _reference()[20:28]]
    images[2] = cv2.resize(images[2], (300, 260), interpolation=cv2.INTER_LINEAR)
    profile = detect_face.StageProfile()
    fast = detect_face.detect_faces(images, MINSIZE, *nets, THRESHOLD, FACTOR, profile=profile)
    # Plain functions take the classic path: one run per level size, transposed in numpy.
    classic_calls = [lambda x, net=net: net(x) for net in nets]
    slow = detect_face.detect_faces(images, MINSIZE, *classic_calls, THRESHOLD, FACTOR)
    for (boxes, points), (expected_boxes, expected_points) in zip(fast, slow):
        np.testing.assert_allclose(boxes, expected_boxes, atol=1e-4)
        np.testing.assert_allclose(points, expected_points, atol=1e-4)
    # One P-Net run (8 images of two sizes), R- and O-Net crops in runs of 64 and 256.
    assert profile.counts['session_runs'] == 1 + sum(
        -(-profile.counts[net + '_crops'] // size) for net, size in
        (('rnet', detect_face.RNET_CROPS_PER_RUN), ('onet', detect_face.ONET_CROPS_PER_RUN)))
    assert profile.counts['images'] == 8
    assert profile.counts['rnet_crops'] > profile.counts['onet_crops'] >= 8
    assert profile.counts['onet_multiply_adds'] == (profile.counts['onet_crops']
                                                    * detect_face.ONET_MULTIPLY_ADDS)
    levels = [detect_face.scaled_size(*img.shape[:2], scale) for img in images
              for scale in detect_face.pyramid_scales(*img.shape[:2], MINSIZE, FACTOR)]
    assert profile.counts['pnet_multiply_adds'] == sum(detect_face.pnet_multiply_adds(*shape)
                                                       for shape in levels)
    assert set(profile.seconds) >= {'pnet_resize', 'pnet_run', 'rnet_run', 'onet_run'}


def test_pixel_towers_are_imported_copies_of_the_network_on_its_weights():
    graph = tf.Graph()
    with tf.Session(graph=graph) as sess:
        pnet, rnet, onet = detect_face.create_mtcnn(sess, None)
        variables = len(tf.global_variables())
        rng = np.random.RandomState(1)
        batches = [rng.randint(0, 256, shape).astype(np.uint8)
                   for shape in ((2, 30, 41, 3), (1, 17, 12, 3), (3, 60, 60, 3))]
        towers = pnet.run_pixels(batches)
        for batch, outputs in zip(batches, towers):
            for tower, classic in zip(outputs, pnet(detect_face._network_input(batch))):
                np.testing.assert_array_equal(tower, classic)
        crops = rng.uniform(0, 255, (5, 48, 48, 3)).astype(np.float32)
        onet.prepare()  # one blank crop
        for tower, classic in zip(onet.run_pixels([crops])[0],
                                  onet(detect_face._network_input(crops))):
            np.testing.assert_array_equal(tower, classic)
        # Copies of the network's nodes: no variables of their own, no layer built anew.
        with graph.as_default():
            assert len(tf.global_variables()) == variables
        convolutions = [op.name for op in graph.get_operations() if op.type == 'Conv2D']
        assert sum(name.startswith('pnet_tower_') for name in convolutions) == 3 * 5
        assert sum(name.startswith('onet_tower_') for name in convolutions) == 4


def _graph_multiply_adds(graph):
    """Multiply-adds of every Conv2D and MatMul of a graph with static shapes."""
    total = 0
    for op in graph.get_operations():
        if op.type == 'Conv2D':
            kernel = op.inputs[1].shape.as_list()
            total += int(np.prod(op.outputs[0].shape.as_list()[1:])) * int(np.prod(kernel[:3]))
        elif op.type == 'MatMul':
            total += int(np.prod(op.inputs[1].shape.as_list()))
    return total


@pytest.mark.parametrize('net, shape, expected', [
    ('pnet', (1, 31, 40, 3), lambda: detect_face.pnet_multiply_adds(40, 31)),
    ('pnet', (1, 250, 250, 3), lambda: detect_face.pnet_multiply_adds(250, 250)),
    ('rnet', (1, 24, 24, 3), lambda: detect_face.RNET_MULTIPLY_ADDS),
    ('onet', (1, 48, 48, 3), lambda: detect_face.ONET_MULTIPLY_ADDS)])
def test_multiply_add_counts_match_the_network_graphs(net, shape, expected):
    graph_fn = {'pnet': detect_face.pnet_graph, 'rnet': detect_face.rnet_graph,
                'onet': detect_face.onet_graph}[net]
    with tf.Graph().as_default() as graph:
        graph_fn(tf.placeholder(tf.float32, shape))   # transposed layout: width first
    assert _graph_multiply_adds(graph) == expected()


def test_start_up_skips_the_keras_import():
    # TensorFlow's eager Keras import (with scikit-learn) is a third of its start-up and the
    # detector needs neither; no None entry is left behind to break a later import keras.
    code = ('import sys; sys.path.insert(0, sys.argv[1]); from align import detect_face; '
            'print(sorted(m for m in ("keras", "sklearn") if m in sys.modules)); '
            'print("keras.src.optimizers" in sys.modules)')
    result = subprocess.run([sys.executable, '-c', code, os.path.join(ROOT, 'src')],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ['[]', 'False']


@pytest.mark.parametrize('shape', [(2, 31, 40, 10), (5, 9, 9, 48), (3, 128)])
@pytest.mark.parametrize('max_form', [False, True])
def test_prelu_computes_the_classic_formula_bit_for_bit(shape, max_form):
    # The classic layer is relu(x) + alpha * -relu(-x) with a broadcast multiply; ours takes
    # alpha * x from a 1x1 depthwise convolution on 4-D activations (the same products).
    rng = np.random.RandomState(len(shape))
    x = (rng.randn(*shape) * 3).astype(np.float32)
    x.flat[::7] = 0.0
    low, high = (-1.3, 1.0) if max_form else (-1.3, 1.3)
    alpha = rng.uniform(low, high, shape[-1]).astype(np.float32)
    if not max_form:
        alpha[0] = 1.25  # a slope above 1: the where form
    with tf.Graph().as_default(), tf.Session() as sess:
        data = tf.constant(x)
        with tf.variable_scope('net'):
            ours = detect_face._prelu(data, 'layer', ('layer',) if max_form else ())
        detect_face._load_variables(sess, 'net', {'layer': {'alpha': alpha}})
        classic = tf.nn.relu(data) + tf.constant(alpha) * -tf.nn.relu(-data)
        ours, classic = sess.run([ours, classic])
    assert (alpha > 1).any() != max_form
    np.testing.assert_array_equal(ours, classic)
    assert not np.array_equal(ours, np.maximum(x, 0))  # the slopes were applied


def test_max_form_prelu_gives_the_same_numbers():
    weights = detect_face.load_package_weights()
    assert detect_face.max_form_prelus(weights['rnet']) == {'prelu2', 'prelu3', 'prelu4'}
    rng = np.random.RandomState(0)
    for scope, graph_fn, shape in (('pnet', detect_face.pnet_graph, (2, 31, 40, 3)),
                                   ('onet', detect_face.onet_graph, (3, 48, 48, 3))):
        images = rng.uniform(-1, 1, shape)
        outputs = []
        for max_form in ((), detect_face.max_form_prelus(weights[scope])):
            with tf.Graph().as_default(), tf.Session() as sess:
                with tf.variable_scope(scope):
                    data = tf.placeholder(tf.float32, shape)
                    fetch = graph_fn(data, prelu_max_form=max_form)
                detect_face._load_variables(sess, scope, weights[scope])
                outputs.append(sess.run(fetch, {data: images}))
        for classic, max_form in zip(*outputs):
            np.testing.assert_array_equal(classic, max_form)
