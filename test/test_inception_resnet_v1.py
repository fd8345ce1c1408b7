"""Inception-ResNet-v1: the checkpoint variable table, shapes and reuse."""
import json
import os

import numpy as np
import pytest

from conftest import shared_path
from toolkit.tf_compat import tf
import models.inception_resnet_v1 as inception_resnet_v1


def _variable_table(bottleneck_layer_size):
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 160, 160, 3])
        phase_train = tf.placeholder(tf.bool)
        inception_resnet_v1.inference(images, 0.8, phase_train,
                                      bottleneck_layer_size=bottleneck_layer_size)
        trainable = set(tf.trainable_variables())
        return [{'name': v.op.name, 'shape': v.shape.as_list(), 'trainable': v in trainable}
                for v in tf.global_variables()]


@pytest.mark.parametrize('size', [128, 512])
def test_variables_equal_the_published_checkpoint_layout(size):
    path = shared_path('reference', 'inception_resnet_v1_variables_%d.json' % size)
    with open(path) as handle:
        reference = json.load(handle)
    assert _variable_table(size) == reference


def test_end_point_shapes_and_unknown_batch():
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 160, 160, 3])
        prelogits, end_points = inception_resnet_v1.inference(images, 1.0, False, 64)
        assert prelogits.shape.as_list() == [None, 64]
        assert end_points['Mixed_6a'].shape.as_list() == [None, 8, 8, 896]
        assert end_points['Mixed_7a'].shape.as_list() == [None, 3, 3, 1792]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            out = sess.run(prelogits, {images: np.random.rand(3, 160, 160, 3)})
        assert out.shape == (3, 64) and np.all(np.isfinite(out))


def test_reuse_shares_variables():
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 96, 96, 3])
        inception_resnet_v1.inference(images, 1.0, False, 32)
        count = len(tf.global_variables())
        inception_resnet_v1.inference(images, 1.0, False, 32, reuse=True)
        assert len(tf.global_variables()) == count


def test_batch_norm_train_mode_updates_moving_statistics():
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 96, 96, 3])
        phase_train = tf.placeholder(tf.bool)
        prelogits, _ = inception_resnet_v1.inference(images, 1.0, phase_train, 16)
        mean = [v for v in tf.global_variables()
                if v.op.name == 'InceptionResnetV1/Conv2d_1a_3x3/BatchNorm/moving_mean'][0]
        batch = np.random.RandomState(0).rand(4, 96, 96, 3).astype(np.float32)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            before = sess.run(mean)
            eval_1 = sess.run(prelogits, {images: batch, phase_train: False})
            assert np.array_equal(sess.run(mean), before)
            sess.run(prelogits, {images: batch, phase_train: True})
            after = sess.run(mean)
            eval_2 = sess.run(prelogits, {images: batch, phase_train: False})
        assert not np.allclose(after, before)
        assert not np.allclose(eval_1, eval_2)
