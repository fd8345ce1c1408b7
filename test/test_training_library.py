"""Training library pieces: schedule files, optimizers, scopes, checkpoints, stop requests."""
import os
import signal

import numpy as np
import pytest

from conftest import ROOT
from toolkit.training import checkpoints, towers
from toolkit.errors import FacenetError
from toolkit.training.learning_rate import (get_learning_rate_from_file, learning_rate_for_epoch,
                                            parse_learning_rate_schedule, read_learning_rate_schedule)
from toolkit.tf_compat import tf
from toolkit.training.options import NetworkOptions

CLASSIC_SCHEDULES = {
    'learning_rate_schedule_classifier_casia.txt': [(0, 0.05), (60, 0.005), (80, 0.0005), (91, -1)],
    'learning_rate_schedule_classifier_vggface2.txt': [(0, 0.05), (100, 0.005), (200, 0.0005),
                                                       (276, -1)],
    'learning_rate_schedule_classifier_msceleb.txt': [(0, 0.1), (65, 0.01), (77, 0.001),
                                                      (1000, 0.0001)],
    'learning_rate_retrain_tripletloss.txt': [(0, 0.1), (300, 0.01), (400, 0.001), (1000, 0.0001)],
}


@pytest.mark.parametrize('name', sorted(CLASSIC_SCHEDULES))
def test_classic_schedule_files(name):
    assert read_learning_rate_schedule(os.path.join(ROOT, 'data', name)) == CLASSIC_SCHEDULES[name]


def test_schedule_lookup_and_end():
    path = os.path.join(ROOT, 'data', 'learning_rate_schedule_classifier_casia.txt')
    assert get_learning_rate_from_file(path, 1) == 0.05
    assert get_learning_rate_from_file(path, 59) == 0.05
    assert get_learning_rate_from_file(path, 60) == 0.005
    assert get_learning_rate_from_file(path, 90) == 0.0005
    assert get_learning_rate_from_file(path, 91) <= 0  # training stops
    schedule = parse_learning_rate_schedule(['# header', '', '5: 0.1  # from epoch 5', '9: -'])
    assert schedule == [(5, 0.1), (9, -1.0)]
    assert learning_rate_for_epoch(schedule, 4) <= 0
    assert learning_rate_for_epoch(schedule, 8) == 0.1


@pytest.mark.parametrize('lines, message', [
    (['0 0.1'], 'line 1'),
    (['0: 0.1', 'ten: 0.01'], 'line 2'),
    (['0: fast'], 'line 1'),
    (['5: 0.1', '3: 0.01'], 'increasing'),
    (['# nothing'], 'no "<epoch>'),
])
def test_bad_schedule_lines(lines, message):
    with pytest.raises(FacenetError, match=message):
        parse_learning_rate_schedule(lines)


def test_missing_schedule_file(tmp_path):
    with pytest.raises(FacenetError, match='cannot read learning rate schedule'):
        read_learning_rate_schedule(str(tmp_path / 'absent.txt'))


@pytest.mark.parametrize('name', towers.OPTIMIZERS)
def test_every_optimizer_decreases_a_quadratic(name):
    with tf.Graph().as_default():
        x = tf.Variable([3.0, -2.0])
        loss = tf.reduce_sum(tf.square(x))
        step = towers.make_optimizer(name, 0.1 if name != 'ADADELTA' else 10.0).minimize(loss)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            before = sess.run(loss)
            for _ in range(5):
                sess.run(step)
            assert sess.run(loss) < before
    with pytest.raises(FacenetError):
        towers.make_optimizer('SGD', 0.1)


def _small_graph():
    x = tf.placeholder(tf.float32, [None, 4])
    with tf.variable_scope('Net'):
        with tf.variable_scope('Block'):
            w1 = tf.get_variable('weights', [4, 3])
        with tf.variable_scope('Bottleneck'):
            w2 = tf.get_variable('weights', [3, 2])
        moving = tf.get_variable('moving_mean', [2], trainable=False, collections=[
            tf.GraphKeys.GLOBAL_VARIABLES, tf.GraphKeys.MOVING_AVERAGE_VARIABLES,
            tf.GraphKeys.TRAINABLE_VARIABLES])
    with tf.variable_scope('Logits'):
        w3 = tf.get_variable('weights', [2, 5])
    return x, (w1, w2, moving, w3)


def test_trainable_scopes_select_variables():
    with tf.Graph().as_default():
        _, (w1, w2, moving, w3) = _small_graph()
        assert towers.model_variables_to_train() == [w1, w2, w3]  # no moving statistics
        assert towers.model_variables_to_train(['Logits']) == [w3]
        assert towers.model_variables_to_train(['Net/Bottleneck', 'Logits']) == [w2, w3]
        with pytest.raises(FacenetError, match='Net/Bottle'):
            towers.model_variables_to_train(['Net/Bottle'])  # a prefix is not a scope


def _save_small_checkpoint(folder, name='run', steps=(1,), max_to_keep=3):
    with tf.Graph().as_default():
        _, variables = _small_graph()
        saver = tf.train.Saver(variables)
        writer = checkpoints.CheckpointWriter(saver, str(folder), name, max_to_keep)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for step in steps:
                writer.save(sess, step)
            writer.save_metagraph()
            return writer, {v.op.name: sess.run(v) for v in variables}


def test_checkpoint_writer_layout_and_retention(tmp_path):
    writer, _ = _save_small_checkpoint(tmp_path, steps=(1, 2, 3, 4), max_to_keep=3)
    names = sorted(os.listdir(tmp_path))
    assert names == ['checkpoint', 'model-run.ckpt-2.data-00000-of-00001', 'model-run.ckpt-2.index',
                     'model-run.ckpt-3.data-00000-of-00001', 'model-run.ckpt-3.index',
                     'model-run.ckpt-4.data-00000-of-00001', 'model-run.ckpt-4.index',
                     'model-run.meta']
    assert checkpoints.resolve_checkpoint(str(tmp_path)) == str(tmp_path / 'model-run.ckpt-4')
    assert not writer.save_metagraph()  # written once


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    with tf.Graph().as_default():
        _, variables = _small_graph()
        writer = checkpoints.CheckpointWriter(tf.train.Saver(variables), str(tmp_path), 'run')
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            writer.save(sess, 1)
            real_replace = os.replace

            def interrupted_replace(src, dst):
                if dst.endswith('ckpt-2.index'):
                    raise KeyboardInterrupt  # Ctrl-C between the data and the index rename
                real_replace(src, dst)

            monkeypatch.setattr(os, 'replace', interrupted_replace)
            with pytest.raises(KeyboardInterrupt):
                writer.save(sess, 2)
    assert not [n for n in os.listdir(tmp_path) if n.startswith('.tmp')]
    assert not os.path.exists(tmp_path / 'model-run.ckpt-2.index')
    prefix = checkpoints.resolve_checkpoint(str(tmp_path))
    assert prefix == str(tmp_path / 'model-run.ckpt-1')
    assert set(dict(tf.train.list_variables(prefix))) == {
        'Net/Block/weights', 'Net/Bottleneck/weights', 'Net/moving_mean', 'Logits/weights'}


def test_restore_skips_a_resized_classifier(tmp_path):
    _, saved = _save_small_checkpoint(tmp_path)
    with tf.Graph().as_default():
        with tf.variable_scope('Net'):
            with tf.variable_scope('Block'):
                w1 = tf.get_variable('weights', [4, 3])
            with tf.variable_scope('Bottleneck'):
                w2 = tf.get_variable('weights', [3, 2])
        with tf.variable_scope('Logits'):
            w3 = tf.get_variable('weights', [2, 7])  # 7 classes instead of 5
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            report = checkpoints.restore_pretrained(sess, str(tmp_path), [w1, w2, w3])
            np.testing.assert_array_equal(sess.run(w2), saved['Net/Bottleneck/weights'])
    assert report.restored == ['Net/Block/weights', 'Net/Bottleneck/weights']
    assert report.skipped == [('Logits/weights', 'shape [2, 5] in the checkpoint, [2, 7] in the model')]


def test_restore_refuses_another_model(tmp_path):
    _save_small_checkpoint(tmp_path)
    with tf.Graph().as_default():
        with tf.variable_scope('Net/Block'):
            wrong = tf.get_variable('weights', [4, 8])
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            with pytest.raises(FacenetError, match='does not fit the model'):
                checkpoints.restore_pretrained(sess, str(tmp_path), [wrong])


@pytest.mark.parametrize('name', ['absent', 'frozen.pb'])
def test_resolve_missing_checkpoint(tmp_path, name):
    with pytest.raises(FacenetError):
        checkpoints.resolve_checkpoint(str(tmp_path / name))
    with pytest.raises(FacenetError, match='no checkpoint'):
        checkpoints.resolve_checkpoint(str(tmp_path))


def test_stop_request_turns_sigterm_into_a_flag():
    previous = signal.getsignal(signal.SIGTERM)
    with checkpoints.StopRequest() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):  # a second Ctrl-C aborts at once
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is previous


def test_classic_train_over_global_variables():
    import facenet
    with tf.Graph().as_default():
        x, (w1, w2, moving, w3) = _small_graph()
        global_step = tf.Variable(0, trainable=False)
        loss = tf.reduce_sum(tf.square(tf.matmul(tf.matmul(tf.matmul(x, w1), w2), w3)))
        tf.add_to_collection('losses', loss)
        train_op = facenet.train(loss, global_step, 'ADAGRAD', 0.1, 0.9999, tf.global_variables())
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            before = sess.run(w1)
            sess.run(train_op, {x: np.ones((2, 4), np.float32)})
            assert sess.run(global_step) == 1
            assert not np.array_equal(sess.run(w1), before)


def test_build_network_freezes_batch_norms_only_where_the_model_can(capsys):
    """--trainable_scopes reaches models that take it; a classic-style model gets a note."""
    import types
    from models import dummy
    options = NetworkOptions('models.custom', 6, 4, trainable_scopes=('Logits',))

    def classic_inference(images, keep_probability, phase_train=True, bottleneck_layer_size=128,
                          weight_decay=0.0, reuse=None):
        return dummy.inference(images, keep_probability, phase_train, bottleneck_layer_size,
                               weight_decay, reuse)

    for network, frozen in ((dummy, True), (types.SimpleNamespace(inference=classic_inference),
                                            False)):
        with tf.Graph().as_default():
            images = tf.placeholder(tf.float32, [None, 6, 6, 3])
            towers.build_network(network, images, options, True, log=print)
            towers.build_training_tower(network, images, options)  # no 2nd note
            updates = [op for op in tf.get_default_graph().get_operations()
                       if op.type == 'AssignSub']
        assert (updates == []) == frozen
    assert capsys.readouterr().out.count('Note: models.custom.inference() takes no '
                                         'trainable_scopes') == 1
