"""The inference rewrites keep the embeddings and remove the ops they promise to remove."""
import collections

import numpy as np
import pytest

import models
from conftest import shared_path
from toolkit.data import folders
from toolkit.inference import fast_graph, graph_optimize
from toolkit.tf_compat import tf


def _run(graph_def, images):
    with tf.Graph().as_default():
        tf.import_graph_def(graph_def, name='')
        with tf.Session() as sess:
            return sess.run('embeddings:0', {'input:0': images})


def _op_counts(graph_def):
    return collections.Counter(node.op for node in graph_def.node)


@pytest.fixture(scope='module')
def faces():
    reference = np.load(shared_path('reference', 'inception_resnet_v1_forward.npz'))
    return reference, np.stack([folders.prewhiten(image) for image in reference['images'][:5]])


def test_rewrites_keep_the_embeddings(model_128, faces):
    reference, images = faces
    original = fast_graph.frozen_graph_def(model_128, networks=models.import_network)
    folded, nrof_folded = graph_optimize.fold_batch_norms(original)
    scaled, nrof_scaled = graph_optimize.fold_output_scales(folded)
    merged, nrof_merged = graph_optimize.merge_sibling_convolutions(scaled)
    # 111 convolutions (not the bottleneck's dense layer), 21 residual scales, and the
    # first 1x1 convolutions sharing an input: 3 in each block35, 2 in each block17 and
    # block8, 3 in Mixed_7a (50 convolutions in 22 groups).
    assert (nrof_folded, nrof_scaled, nrof_merged) == (111, 21, 50)
    counts = _op_counts(merged)
    assert counts['FusedBatchNormV3'] == 1 and counts['Mul'] == 1
    assert counts["Conv2D"] == _op_counts(original)["Conv2D"] - 50 + 22  # 22 merged groups
    halves, nrof_copied = graph_optimize.run_batch_halves_in_parallel(merged)
    assert _op_counts(halves)['Conv2D'] == 2 * counts['Conv2D'] and nrof_copied > counts['Conv2D']
    assert _op_counts(halves)['Const'] < 2 * counts['Const']  # the copies share the weights
    expected = reference['embeddings_prewhiten'][:5]
    for graph_def in (original, folded, scaled, merged, halves):
        assert np.abs(_run(graph_def, images) - expected).max() < 1e-5
    for size in (1, 2):  # one image takes the first copy alone; two, one image each
        assert np.abs(_run(halves, images[:size]) - expected[:size]).max() < 1e-5


def test_batch_folded_frozen_graph_is_left_as_is_where_nothing_matches(model_512):
    original = fast_graph.frozen_graph_def(model_512, networks=models.import_network)
    _, nrof_folded = graph_optimize.fold_batch_norms(original)
    assert nrof_folded == 0  # its batch norms were folded when it was published
    _, nrof_merged = graph_optimize.merge_sibling_convolutions(original)
    assert nrof_merged == 50
    # Its constant-folded shapes hang on the input by control inputs; the halves still apply.
    optimized = graph_optimize.optimize_for_inference(original)
    assert any(node.name.startswith('second_half/') for node in optimized.node)


def test_merge_keeps_node_names_consumers_use():
    with tf.Graph().as_default() as graph:
        images = tf.placeholder(tf.float32, [None, 5, 5, 4], name='input')
        rng = np.random.RandomState(0)
        outputs = []
        for i, width in enumerate((3, 2)):
            kernel = tf.constant(rng.randn(1, 1, 4, width).astype(np.float32))
            bias = tf.constant(rng.randn(width).astype(np.float32))
            net = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(images, kernel, 1, 'SAME'), bias),
                             name='branch_%d' % i)
            outputs.append(net)
        tf.concat(outputs, 3, name='embeddings')
        graph_def = graph.as_graph_def()
    merged, count = graph_optimize.merge_sibling_convolutions(graph_def)
    assert count == 2 and _op_counts(merged)['Conv2D'] == 1
    names = {node.name for node in merged.node}
    assert {'branch_0', 'branch_1'} <= names
    x = np.random.RandomState(1).rand(2, 5, 5, 4).astype(np.float32)
    assert np.abs(_run(graph_def, x) - _run(merged, x)).max() < 1e-5


def test_remove_identities_keeps_outputs_and_values():
    with tf.Graph().as_default() as graph:
        x = tf.placeholder(tf.float32, [None, 3], name='input')
        inner = tf.identity(tf.identity(x * 2.0), name='inner')
        tf.identity(inner + 1.0, name='embeddings')
        graph_def = graph.as_graph_def()
    cleaned, count = graph_optimize.remove_identities(graph_def)
    assert count == 2  # the add and 'inner' itself now read x * 2 directly
    names = {node.name for node in cleaned.node}
    assert 'inner' not in names and 'embeddings' in names
    value = np.array([[1.0, 2.0, 3.0]], np.float32)
    assert np.array_equal(_run(cleaned, value), value * 2 + 1)


def _small_network(batch_mixing=None):
    """input -> conv -> relu -> per-image max -> l2-normalized embeddings.

    ``batch_mixing`` adds an op that mixes images: 'mean' subtracts the batch mean (axis 0),
    'negative_axis' adds the batch sum taken along axis -2 of the N x 8 features.
    """
    with tf.Graph().as_default() as graph:
        images = tf.placeholder(tf.float32, [None, 6, 6, 3], name='input')
        kernel = tf.constant(np.random.RandomState(0).randn(3, 3, 3, 8).astype(np.float32))
        net = tf.nn.relu(tf.nn.conv2d(images, kernel, 1, 'SAME'))
        if batch_mixing == 'mean':
            net = net - tf.reduce_mean(net, axis=0)
        with tf.control_dependencies([images]):  # a control input from the input, too
            net = tf.reshape(tf.reduce_max(net, axis=[1, 2]), [-1, 8])
        if batch_mixing == 'negative_axis':
            net = net + tf.reduce_sum(net, axis=-2)
        tf.nn.l2_normalize(net, 1, 1e-10, name='embeddings')
        return graph.as_graph_def()


def test_batch_halves_give_the_whole_batch_result_for_every_size():
    graph_def = _small_network()
    halves, nrof_copied = graph_optimize.run_batch_halves_in_parallel(graph_def)
    assert nrof_copied > 0 and {'Switch', 'Merge', 'SplitV'} <= set(_op_counts(halves))
    assert sum(node.name == 'embeddings' for node in halves.node) == 1
    x = np.random.RandomState(1).rand(7, 6, 6, 3).astype(np.float32)
    for size in (1, 2, 3, 7):
        assert np.abs(_run(halves, x[:size]) - _run(graph_def, x[:size])).max() < 1e-6


@pytest.mark.parametrize('batch_mixing', ['mean', 'negative_axis'])
def test_batch_halves_leave_a_batch_mixing_graph_alone(batch_mixing):
    graph_def = _small_network(batch_mixing)
    halves, nrof_copied = graph_optimize.run_batch_halves_in_parallel(graph_def)
    assert nrof_copied == 0 and halves is graph_def
