"""The networks in src/models: interface, shapes, variable names, reuse, batch norm, training."""
import importlib

import numpy as np
import pytest

import train_tripletloss
from test_train_softmax import make_image_folders
from test_train_tripletloss import assert_descends, fixed_triplet_losses
from toolkit.tf_compat import tf

# model_def -> smallest accepted image size (Inception-ResNet-v1 is covered by its own tests,
# Inception-ResNet-v2 by test_inception_resnet_v2_classic_names_and_shapes: both are slow to build).
MODELS = {
    'models.squeezenet': 25,
    'models.dummy': 8,
}


@pytest.mark.parametrize('model_def', sorted(MODELS))
def test_inference_interface_and_reuse(model_def):
    network = importlib.import_module(model_def)
    size = MODELS[model_def]
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, size, size, 3])
        prelogits, end_points = network.inference(images, 0.8, phase_train=False,
                                                  bottleneck_layer_size=16, weight_decay=1e-4)
        assert prelogits.shape.as_list() == [None, 16]
        assert isinstance(end_points, dict)
        count = len(tf.global_variables())
        network.inference(images, 0.8, phase_train=False, bottleneck_layer_size=16, reuse=True)
        assert len(tf.global_variables()) == count
        regularization = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
        assert regularization and len(regularization) <= count
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            out = sess.run(prelogits, {images: np.random.RandomState(0).randn(2, size, size, 3)})
        assert out.shape == (2, 16) and np.all(np.isfinite(out))


def test_too_small_images_are_refused():
    import models.squeezenet as squeezenet
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match='Negative dimension'):
            squeezenet.inference(tf.placeholder(tf.float32, [1, 24, 24, 3]), 1.0, False, 16)


def test_inception_resnet_v2_classic_names_and_shapes():
    import models.inception_resnet_v2 as v2
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 160, 160, 3])
        prelogits, end_points = v2.inference(images, 1.0, phase_train=False,
                                             bottleneck_layer_size=128)
        shapes = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            out = sess.run(prelogits, {images: np.random.RandomState(0).randn(1, 160, 160, 3)})
    assert out.shape == (1, 128) and np.all(np.isfinite(out))
    assert end_points['Mixed_5b'].shape.as_list() == [None, 17, 17, 320]
    assert end_points['Mixed_6a'].shape.as_list() == [None, 8, 8, 1088]
    assert end_points['Mixed_7a'].shape.as_list() == [None, 3, 3, 2080]
    assert end_points['Conv2d_7b_1x1'].shape.as_list() == [None, 3, 3, 1536]
    expected = {
        'InceptionResnetV2/Conv2d_1a_3x3/weights': [3, 3, 3, 32],
        'InceptionResnetV2/Mixed_5b/Branch_3/Conv2d_0b_1x1/BatchNorm/moving_variance': [64],
        'InceptionResnetV2/Repeat/block35_10/Conv2d_1x1/biases': [320],
        'InceptionResnetV2/Repeat_1/block17_20/Branch_1/Conv2d_0c_7x1/weights': [7, 1, 160, 192],
        'InceptionResnetV2/Repeat_2/block8_9/Branch_1/Conv2d_0b_1x3/weights': [1, 3, 192, 224],
        'InceptionResnetV2/Block8/Conv2d_1x1/weights': [1, 1, 448, 2080],
        'InceptionResnetV2/Conv2d_7b_1x1/BatchNorm/beta': [1536],
        'InceptionResnetV2/Bottleneck/weights': [1536, 128],
    }
    for name, shape in expected.items():
        assert shapes[name] == shape, name
    assert 'InceptionResnetV2/Repeat/block35_11/Conv2d_1x1/weights' not in shapes


def test_batch_norm_train_and_inference_behaviour():
    """Inference output of an image ignores its batch; training uses batch statistics."""
    import models.squeezenet as squeezenet
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 32, 32, 3])
        phase_train = tf.placeholder(tf.bool)
        prelogits, _ = squeezenet.inference(images, 1.0, phase_train, bottleneck_layer_size=8)
        moving = [v for v in tf.global_variables() if v.op.name.endswith('conv1/BatchNorm/moving_mean')][0]
        batch = np.random.RandomState(1).randn(4, 32, 32, 3).astype(np.float32)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            before = sess.run(moving)
            infer_full = sess.run(prelogits, {images: batch, phase_train: False})
            infer_single = sess.run(prelogits, {images: batch[:1], phase_train: False})
            np.testing.assert_array_equal(sess.run(moving), before)
            train_full = sess.run(prelogits, {images: batch, phase_train: True})
            train_half = sess.run(prelogits, {images: batch[:2], phase_train: True})
            after = sess.run(moving)
    np.testing.assert_allclose(infer_full[:1], infer_single, rtol=1e-4, atol=1e-5)
    assert not np.allclose(train_full[:2], train_half, atol=1e-4)
    assert not np.allclose(before, after)


def test_float64_layers_compute_what_float32_layers_do():
    """The layers take their input's float type (as in the float64 equivalence tests of
    distributed training): every variable is float64, and on the same weights the inference
    and training outputs, the weight decay and the moving statistics' update match
    float32's (fused batch norm there, separate ops in float64)."""
    from toolkit.nets.layers import Layers
    batch = np.random.RandomState(2).randn(6, 9, 9, 3)
    results, weights = [], None
    for dtype in (tf.float32, tf.float64):
        with tf.Graph().as_default():
            images = tf.placeholder(dtype, [None, 9, 9, 3])
            phase_train = tf.placeholder(tf.bool)
            layers = Layers(phase_train, weight_decay=0.01)
            net = layers.conv2d(images, 8, 3, stride=2, scope='conv')
            net = layers.conv2d(net, 4, 1, scope='projection', normalize=False)
            output = layers.fully_connected(tf.reshape(net, [-1, 5 * 5 * 4]), 5, scope='dense')
            variables = tf.global_variables()
            assert {v.dtype.base_dtype for v in variables} == {dtype}
            moving = [i for i, v in enumerate(variables) if '/moving_' in v.op.name]
            decay = tf.add_n(tf.losses.get_regularization_losses())
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                if weights is None:
                    weights = sess.run(variables)
                for variable, value in zip(variables, weights):
                    variable.load(value.astype(dtype.as_numpy_dtype), sess)
                feed = {images: batch.astype(dtype.as_numpy_dtype)}
                inference = sess.run(output, {**feed, phase_train: False})
                training = sess.run(output, {**feed, phase_train: True})
                results.append((inference, training, sess.run(decay),
                                sess.run([variables[i] for i in moving])))
    (inference32, training32, decay32, moving32), \
        (inference64, training64, decay64, moving64) = results
    assert inference64.dtype == np.float64 and len(moving) == 4
    np.testing.assert_allclose(inference64, inference32, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(training64, training32, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(decay64, decay32, rtol=1e-6)
    for updated64, updated32, i in zip(moving64, moving32, moving):
        np.testing.assert_allclose(updated64, updated32, rtol=1e-5, atol=1e-7)
        assert not np.array_equal(updated64, weights[i])  # the training run moved them


def test_batch_norms_outside_trainable_scopes_are_frozen():
    """Fine-tuning only some scopes: the other batch norms use and keep their moving statistics."""
    import models.squeezenet as squeezenet
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 32, 32, 3])
        prelogits, end_points = squeezenet.inference(images, 1.0, True, bottleneck_layer_size=8,
                                                     trainable_scopes=['SqueezeNet/Bottleneck'])
        trunk = end_points['fire9']
        moving = {v.op.name: v for v in tf.global_variables() if 'moving_' in v.op.name}
        batch = np.random.RandomState(1).randn(4, 32, 32, 3).astype(np.float32)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            before = sess.run(moving)
            trunk_full, full = sess.run([trunk, prelogits], {images: batch})
            after = sess.run(moving)
            trunk_single, single = sess.run([trunk, prelogits], {images: batch[:1]})
    frozen = [name for name in moving if not name.startswith('SqueezeNet/Bottleneck/')]
    assert frozen and len(frozen) < len(moving)
    for name in frozen:
        np.testing.assert_array_equal(after[name], before[name])
    assert not np.allclose(after['SqueezeNet/Bottleneck/BatchNorm/moving_mean'],
                           before['SqueezeNet/Bottleneck/BatchNorm/moving_mean'])
    # The frozen trunk normalizes with moving statistics, so an image's trunk features ignore
    # the rest of its batch; the trainable bottleneck still normalizes with batch statistics.
    np.testing.assert_allclose(trunk_full[:1], trunk_single, rtol=1e-4, atol=1e-5)
    assert not np.allclose(full[:1], single, atol=1e-4)


def _tiny_run_args(tmp_path, data_dir, model_def, size, *extra):
    return ['--data_dir', data_dir, '--model_def', model_def, '--image_size', str(size),
            '--batch_size', '3', '--epoch_size', '1', '--max_nrof_epochs', '1',
            '--embedding_size', '16', '--logs_base_dir', str(tmp_path / 'logs'),
            '--models_base_dir', str(tmp_path / 'models'), *extra]


def test_triplet_training_step_squeezenet(tmp_path):
    """Two epochs of one step, only the bottleneck trained: between the two checkpoints the
    bottleneck moved and every variable of the trunk kept its value; and six steps on
    fixed triplets lower their loss."""
    data_dir = make_image_folders(tmp_path / 'data', 2, 3, size=32)
    args = train_tripletloss.parse_arguments(_tiny_run_args(
        tmp_path, data_dir, 'models.squeezenet', 32, '--people_per_batch', '2',
        '--images_per_person', '3', '--alpha', '2.0', '--max_nrof_epochs', '2',
        '--trainable_scopes', 'SqueezeNet/Bottleneck'))
    model_dir = train_tripletloss.run_training(args)
    paths = tf.train.get_checkpoint_state(model_dir).all_model_checkpoint_paths
    assert [path.rsplit('-', 1)[1] for path in paths] == ['1', '2']
    first, last = (tf.train.load_checkpoint(path) for path in paths)
    assert last.get_tensor('SqueezeNet/Bottleneck/weights').shape == (1000, 16)
    names = [name for name in last.get_variable_to_shape_map() if name.startswith('SqueezeNet/')
             and not name.endswith(('/Adagrad', '/ExponentialMovingAverage'))]
    trunk = [name for name in names if not name.startswith('SqueezeNet/Bottleneck/')]
    assert len(trunk) > 90
    for name in trunk:
        np.testing.assert_array_equal(first.get_tensor(name), last.get_tensor(name), name)
    assert np.max(np.abs(first.get_tensor('SqueezeNet/Bottleneck/weights')
                         - last.get_tensor('SqueezeNet/Bottleneck/weights'))) > 0
    assert_descends(fixed_triplet_losses(str(tmp_path), 'models.squeezenet', 32, 2e-4, 6,
                                         '--trainable_scopes', 'SqueezeNet/Bottleneck'))
