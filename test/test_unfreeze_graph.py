"""unfreeze_graph.py and --pretrained_model FROZEN.pb: frozen graphs (batch norms folded or not)
back into trainable checkpoints that compute the same embeddings."""
import os

import numpy as np
import pytest

import models.dummy as dummy
import models.inception_resnet_v1 as inception_resnet_v1
import train_softmax
import unfreeze_graph
from conftest import shared_path
from test_train_softmax import make_image_folders, run_args
from toolkit.errors import FacenetError
from toolkit.inference import graph_optimize
from toolkit.modelfiles import metadata, unfreezing
from toolkit.nets.layers import BATCH_NORM_EPSILON, Layers
from toolkit.tf_compat import tf
from toolkit.training import checkpoints


def small_network(images):
    """A convolution with batch norm and a bottleneck with batch norm (classic names)."""
    layers = Layers(False)
    net = layers.conv2d(images, 4, 3, scope='Conv')
    net = tf.reshape(net, [-1, 8 * 8 * 4])
    return tf.identity(layers.fully_connected(net, 5, scope='Bottleneck'), name='output')


def frozen_small_network(rng):
    """(frozen GraphDef, {name: value} of its variables, {name: shape}) with random weights."""
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 8, 8, 3], name='input')
        small_network(images)
        variables = tf.global_variables()
        values = {v.op.name: rng.uniform(0.5, 1.5, v.shape.as_list()).astype(np.float32)
                  for v in variables}
        with tf.Session() as sess:
            for v in variables:
                v.load(values[v.op.name], sess)
            frozen = tf.graph_util.convert_variables_to_constants(
                sess, sess.graph.as_graph_def(), ['output'])
    return frozen, values, {name: list(value.shape) for name, value in values.items()}


def run_graph_def(graph_def, images):
    with tf.Graph().as_default():
        tf.import_graph_def(graph_def, name='')
        with tf.Session() as sess:
            return sess.run('output:0', {'input:0': images})


def run_small_network(weights, images):
    with tf.Graph().as_default():
        inputs = tf.placeholder(tf.float32, [None, 8, 8, 3])
        output = small_network(inputs)
        with tf.Session() as sess:
            for v in tf.global_variables():
                v.load(weights[v.op.name], sess)
            return sess.run(output, {inputs: images})


def test_unfolded_graph_gives_back_its_variables_and_folded_one_its_function():
    rng = np.random.RandomState(0)
    frozen, values, shapes = frozen_small_network(rng)
    plain = unfreezing.unfreeze_weights(frozen, shapes)
    assert plain.missing == [] and plain.nrof_unfolded == 0
    for name, value in values.items():
        np.testing.assert_array_equal(plain.weights[name], value)

    folded_graph, nrof_folded = graph_optimize.fold_batch_norms(frozen)
    assert nrof_folded == 1  # the convolution's batch norm (the bottleneck's stays)
    folded = unfreezing.unfreeze_weights(folded_graph, shapes, BATCH_NORM_EPSILON)
    assert folded.missing == [] and folded.nrof_unfolded == 1
    np.testing.assert_array_equal(folded.weights['Conv/BatchNorm/moving_mean'], 0.0)
    np.testing.assert_array_equal(folded.weights['Conv/BatchNorm/moving_variance'],
                                  np.float32(1.0 - BATCH_NORM_EPSILON))
    scale = 1.0 / np.sqrt(values['Conv/BatchNorm/moving_variance'] + BATCH_NORM_EPSILON)
    np.testing.assert_allclose(folded.weights['Conv/weights'], values['Conv/weights'] * scale,
                               rtol=1e-6)
    np.testing.assert_allclose(folded.weights['Conv/BatchNorm/beta'],
                               values['Conv/BatchNorm/beta']
                               - values['Conv/BatchNorm/moving_mean'] * scale, rtol=1e-5)
    images = rng.uniform(-1, 1, (3, 8, 8, 3)).astype(np.float32)
    expected = run_graph_def(frozen, images)
    np.testing.assert_allclose(run_small_network(folded.weights, images), expected, rtol=1e-5,
                               atol=1e-5)


def test_unfreeze_graph_refuses_other_graphs(tmp_path):
    frozen, _, _ = frozen_small_network(np.random.RandomState(1))
    path = tmp_path / 'small.pb'
    path.write_bytes(frozen.SerializeToString())
    with pytest.raises(FacenetError, match='not a frozen Inception-ResNet-v1'):
        unfreeze_graph.main(unfreeze_graph.parse_arguments([str(path), str(tmp_path / 'out')]))
    assert not os.path.exists(tmp_path / 'out')


def test_unfrozen_512_model_embeds_like_the_graph_and_fine_tunes(model_512, tmp_path, capsys):
    """The published 20180408-102900 graph (batch norms folded) on shared LFW faces."""
    reference = np.load(shared_path('reference', 'inception_resnet_v1_forward.npz'))
    faces = (reference['images'][:6].astype(np.float32) - 127.5) / 128.0  # fixed standardization
    pb_path = os.path.join(model_512, '20180408-102900.pb')
    output_dir = str(tmp_path / '20180408-102900-ckpt')
    unfreeze_graph.main(unfreeze_graph.parse_arguments([pb_path, output_dir,
                                                        '--nrof_check_images', '0']))
    out = capsys.readouterr().out
    assert 'Read 490 weights' in out and 'folded batch norms unfolded' in out
    assert sorted(n for n in os.listdir(output_dir)
                  if not n.startswith('model-')) == ['checkpoint', 'facenet_model.json']
    assert metadata.read_model_metadata(output_dir)[:2] == ('fixed', 512)
    assert unfreezing.max_embedding_difference(pb_path, output_dir, faces) <= 1e-5

    # One training step from the folder: the whole network in training mode (batch statistics),
    # restored by the training scripts' restore_pretrained.
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [2, 96, 96, 3])
        prelogits, _ = inception_resnet_v1.inference(images, 1.0, phase_train=True,
                                                     bottleneck_layer_size=512)
        embeddings = tf.nn.l2_normalize(prelogits, 1)
        loss = -tf.reduce_sum(embeddings[0] * embeddings[1])
        step = tf.train.GradientDescentOptimizer(0.01).minimize(loss)
        watched = ['InceptionResnetV1/Conv2d_1a_3x3/weights', 'InceptionResnetV1/Bottleneck/weights',
                   'InceptionResnetV1/Conv2d_4b_3x3/BatchNorm/moving_mean']
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            report = checkpoints.restore_pretrained(sess, output_dir, tf.trainable_variables())
            assert len(report.restored) == 490 and not report.skipped
            before = sess.run([name + ':0' for name in watched])
            pair = (reference['images'][[0, 0]].astype(np.float32) - 127.5) / 128.0
            pair[1] = pair[1, :, ::-1]  # the same face mirrored
            first_loss, _ = sess.run([loss, step], {images: pair[:, 32:128, 32:128]})
            after = sess.run([name + ':0' for name in watched])
            second_loss = sess.run(loss, {images: pair[:, 32:128, 32:128]})
    assert np.isfinite(first_loss) and np.isfinite(second_loss) and second_loss != first_loss
    for name, old, new in zip(watched, before, after):
        assert 0 < np.max(np.abs(new - old)) < 1.0, name


def test_train_softmax_restores_a_frozen_graph(tmp_path, capsys):
    """--pretrained_model takes a frozen .pb (here the tiny dummy network's)."""
    rng = np.random.RandomState(2)
    with tf.Graph().as_default():
        inputs = tf.placeholder(tf.float32, [None, 20, 20, 3], name='input')
        prelogits, _ = dummy.inference(inputs, 1.0, phase_train=False, bottleneck_layer_size=8)
        tf.identity(prelogits, name='output')
        values = {v.op.name: rng.uniform(0.5, 1.5, v.shape.as_list()).astype(np.float32)
                  for v in tf.global_variables()}
        with tf.Session() as sess:
            for v in tf.global_variables():
                v.load(values[v.op.name], sess)
            frozen = tf.graph_util.convert_variables_to_constants(
                sess, sess.graph.as_graph_def(), ['output'])
    os.makedirs(tmp_path / 'frozen')
    pb_path = tmp_path / 'frozen' / 'dummy.pb'
    pb_path.write_bytes(frozen.SerializeToString())
    data_dir = make_image_folders(tmp_path / 'data', 2, 4)
    model_dir = train_softmax.run_training(run_args(
        tmp_path, data_dir, '--max_nrof_epochs', '1', '--pretrained_model', str(tmp_path / 'frozen'),
        '--is_finetune'))
    assert 'Restored 4 variables from pretrained model %s' % pb_path in capsys.readouterr().out
    tuned = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
    for name, value in values.items():
        np.testing.assert_array_equal(tuned.get_tensor(name), value)  # restored, then frozen
