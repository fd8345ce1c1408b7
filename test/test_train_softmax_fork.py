"""train_softmax flags of the HW_face fork: --is_finetune, --load_without_fc, --test_dir,
--save_every_n_epochs (dummy model, tiny images)."""
import glob
import os
import shutil

import h5py
import numpy as np
import pytest
from PIL import Image

import train_softmax
from test_train_softmax import make_image_folders, only_subdir, run_args
from toolkit.nets.layers import BATCH_NORM_EPSILON
from toolkit.tf_compat import tf
from toolkit.training.checkpoints import restore_pretrained


def event_values(log_dir, tag):
    """The values of one scalar tag in a run's TensorBoard event files, in step order."""
    points = []
    for path in glob.glob(os.path.join(log_dir, 'events.out.tfevents.*')):
        for event in tf.train.summary_iterator(path):
            points += [(event.step, v.simple_value) for v in event.summary.value if v.tag == tag]
    return [value for _, value in sorted(points)]


def test_fork_flags_parse():
    args = train_softmax.parse_arguments(['--is_finetune'])
    assert args.trainable_scopes == 'Logits'
    defaults = train_softmax.parse_arguments([])
    assert (defaults.is_finetune, defaults.load_without_fc, defaults.test_dir,
            defaults.save_every_n_epochs, defaults.trainable_scopes) == (False, False, '', 1, '')
    for bad in (['--is_finetune', '--trainable_scopes', 'InceptionResnetV1/Block8'],
                ['--load_without_fc'], ['--save_every_n_epochs', '0']):
        with pytest.raises(SystemExit) as exit_info:
            train_softmax.parse_arguments(bad)
        assert exit_info.value.code == 2


def dummy_logits(reader, image_paths, crop=20):
    """Logits of the dummy model with a checkpoint's weights, in numpy (prewhitened input)."""
    images = []
    for path in image_paths:
        pixels = np.asarray(Image.open(path), np.float64)
        offset = (pixels.shape[0] - crop) // 2
        pixels = pixels[offset:offset + crop, offset:offset + crop]
        images.append((pixels - pixels.mean()) / max(pixels.std(), 1.0 / np.sqrt(pixels.size)))
    flat = np.reshape(images, (len(images), -1))
    net = flat @ reader.get_tensor('Bottleneck/weights')
    net = (net - reader.get_tensor('Bottleneck/BatchNorm/moving_mean')) / np.sqrt(
        reader.get_tensor('Bottleneck/BatchNorm/moving_variance') + BATCH_NORM_EPSILON)
    net += reader.get_tensor('Bottleneck/BatchNorm/beta')
    return net @ reader.get_tensor('Logits/weights') + reader.get_tensor('Logits/biases')


def make_test_dir(root, data_dir):
    """Copies of training images of two classes, one of them holding a class02 face."""
    copies = {'class00': ['class00/class00_0001.png', 'class00/class00_0002.png',
                          'class02/class02_0003.png'],
              'class01': ['class01/class01_0004.png', 'class01/class01_0005.png']}
    paths, labels = [], []
    for label, (name, sources) in enumerate(sorted(copies.items())):
        os.makedirs(root / name)
        for i, source in enumerate(sources):
            path = str(root / name / ('test_%d.png' % i))
            shutil.copy(os.path.join(data_dir, source), path)
            paths.append(path)
            labels.append(label)
    return str(root), paths, labels


def test_test_dir_accuracy_and_save_every_n_epochs_then_finetune_without_fc(tmp_path, capsys):
    data_dir = make_image_folders(tmp_path / 'data', 3, 6)
    test_dir, test_paths, test_labels = make_test_dir(tmp_path / 'test', data_dir)
    model_dir = train_softmax.run_training(run_args(
        tmp_path / 'a', data_dir, '--epoch_size', '2', '--max_nrof_epochs', '3',
        '--test_dir', test_dir, '--validate_every_n_epochs', '1', '--save_every_n_epochs', '2'))
    indexes = sorted(n for n in os.listdir(model_dir) if n.endswith('.index'))
    assert [n.rsplit('-', 1)[1] for n in indexes] == ['2.index', '3.index']  # epoch 2 and the last

    # The accuracy of the last validation, recomputed from the checkpoint it was measured on.
    trained = tf.train.load_checkpoint(os.path.join(model_dir, indexes[-1][:-len('.index')]))
    predicted = np.argmax(dummy_logits(trained, test_paths), axis=1)
    expected = np.mean(predicted == np.array(test_labels))
    log_dir = only_subdir(tmp_path / 'a' / 'logs')
    with h5py.File(os.path.join(log_dir, 'stat.h5'), 'r') as stat:
        assert stat['test_accuracy'].shape == (3,)
        assert stat['test_accuracy'][2] == pytest.approx(expected, abs=1e-6)
        assert np.all(np.mod(stat['test_accuracy'][:] * 5, 1) < 1e-5)  # k of the 5 images
    tensorboard = event_values(log_dir, 'test/accuracy')
    assert len(tensorboard) == 3 and tensorboard[-1] == pytest.approx(expected, abs=1e-6)
    out = capsys.readouterr().out
    assert 'Test Epoch: 3\t' in out
    assert 'Top-1 accuracy %2.3f (5 images)' % expected in out

    # --is_finetune --load_without_fc: the trunk is restored and frozen, Logits start afresh.
    tuned_dir = train_softmax.run_training(run_args(
        tmp_path / 'b', data_dir, '--epoch_size', '2', '--max_nrof_epochs', '1',
        '--pretrained_model', model_dir, '--is_finetune', '--load_without_fc'))
    out = capsys.readouterr().out
    assert 'Logits/weights (not restored on request)' in out
    assert 'Logits/biases (not restored on request)' in out
    tuned = tf.train.load_checkpoint(tf.train.latest_checkpoint(tuned_dir))
    for name in ('Bottleneck/weights', 'Bottleneck/BatchNorm/beta',
                 'Bottleneck/BatchNorm/moving_mean', 'Bottleneck/BatchNorm/moving_variance'):
        np.testing.assert_array_equal(tuned.get_tensor(name), trained.get_tensor(name))
    assert tuned.get_tensor('Logits/weights').shape == trained.get_tensor('Logits/weights').shape
    assert not np.allclose(tuned.get_tensor('Logits/weights'), trained.get_tensor('Logits/weights'),
                           atol=1e-3)


def test_restore_skips_the_requested_scopes_even_when_shapes_match(tmp_path):
    prefix = str(tmp_path / 'model.ckpt-1')
    with tf.Graph().as_default():
        tf.get_variable('Logits/weights', initializer=np.full((2, 3), 5.0, np.float32))
        tf.get_variable('Trunk/weights', initializer=np.full((4,), 7.0, np.float32))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            tf.train.Saver().save(sess, prefix)
    for skip, expected_logits in (([], 5.0), (['Logits'], 1.0)):
        with tf.Graph().as_default():
            logits = tf.get_variable('Logits/weights', initializer=np.ones((2, 3), np.float32))
            trunk = tf.get_variable('Trunk/weights', initializer=np.zeros((4,), np.float32))
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                report = restore_pretrained(sess, prefix, [logits, trunk], skip_scopes=skip)
                np.testing.assert_array_equal(sess.run(logits), expected_logits)
                np.testing.assert_array_equal(sess.run(trunk), 7.0)
        assert report.restored == (['Trunk/weights'] if skip else ['Logits/weights', 'Trunk/weights'])
