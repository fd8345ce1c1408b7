"""Resuming a stopped training run with the same command (--run_name), on one device."""
import os

import h5py
import numpy as np
import pytest

import train_softmax
import train_tripletloss
from test_train_softmax import make_image_folders
from toolkit.errors import FacenetError
from toolkit.tf_compat import tf
from toolkit.training import checkpoints

# Every batch holds all 4 images (2 classes x 2), so the order of the batches does not
# matter: an interrupted and resumed run must end where an uninterrupted one does.
RESUME_ARGV = ['--model_def', 'models.dummy', '--image_size', '8', '--batch_size', '4',
               '--epoch_size', '2', '--max_nrof_epochs', '3', '--embedding_size', '4',
               '--optimizer', 'ADAM', '--learning_rate', '0.05', '--center_loss_factor', '0.1',
               '--learning_rate_decay_epochs', '1', '--learning_rate_decay_factor', '0.5',
               '--moving_average_decay', '0.9', '--weight_decay', '0.01']


def checkpoint_values(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def stop_after_epoch(monkeypatch, module, stop_epoch):
    """Ctrl-C during epoch ``stop_epoch``: its stop request is set after the epoch's steps."""
    original = module.train_one_epoch

    def train_one_epoch(*args, **kwargs):
        result = original(*args, **kwargs)
        stop = next(a for a in list(args) + list(kwargs.values())
                    if type(a).__name__ == 'StopAgreement')
        epoch = args[3] if module is train_softmax else args[5]
        if epoch == stop_epoch:
            stop.local.requested = True
        return result
    monkeypatch.setattr(module, 'train_one_epoch', train_one_epoch)


def test_a_stopped_softmax_run_resumes_with_the_same_command(tmp_path, monkeypatch, capsys):
    data_dir = make_image_folders(tmp_path / 'data', 2, 2, size=8)

    def argv(name):
        return RESUME_ARGV + ['--data_dir', data_dir, '--run_name', name,
                              '--logs_base_dir', str(tmp_path / 'logs'),
                              '--models_base_dir', str(tmp_path / 'models')]

    straight_dir = train_softmax.run_training(train_softmax.parse_arguments(argv('straight')))
    with monkeypatch.context() as patch:
        stop_after_epoch(patch, train_softmax, 1)
        resumed_dir = train_softmax.run_training(train_softmax.parse_arguments(argv('resumed')))
    state, epoch = checkpoints.newest_training_state(resumed_dir)
    assert epoch == 1 and checkpoint_values(state)['global_step'] == 2
    assert sorted(n for n in os.listdir(resumed_dir) if '.ckpt-' in n) == [
        'model-resumed.ckpt-1.data-00000-of-00001', 'model-resumed.ckpt-1.index']
    # Classic checkpoints stay as they were: trainable variables only.
    assert 'global_step' not in checkpoint_values(os.path.join(resumed_dir, 'model-resumed.ckpt-1'))
    capsys.readouterr()
    assert train_softmax.run_training(train_softmax.parse_arguments(argv('resumed'))) == resumed_dir
    out = capsys.readouterr().out
    assert 'Resuming run resumed after epoch 1 from %s' % state in out
    assert 'Epoch: [2][1/2]' in out and 'Epoch: [1][' not in out
    # The same end as without the interruption: weights, Adam slots, moving averages, centers.
    final = {name: checkpoint_values(os.path.join(folder, 'training_state',
                                                  'model-%s.state-3' % name))
             for name, folder in (('straight', straight_dir), ('resumed', resumed_dir))}
    assert final['resumed']['global_step'] == final['straight']['global_step'] == 6
    assert sorted(final['resumed']) == sorted(final['straight'])
    assert any('Adam' in name for name in final['resumed']) and 'centers' in final['resumed']
    for name, value in final['straight'].items():
        np.testing.assert_allclose(final['resumed'][name], value, rtol=1e-4, atol=1e-6,
                                   err_msg=name)
    stats = [h5py.File(os.path.join(tmp_path / 'logs' / name, 'stat.h5'), 'r')
             for name in ('straight', 'resumed')]
    np.testing.assert_allclose(stats[1]['learning_rate'][()], [0.05, 0.025, 0.0125])
    np.testing.assert_allclose(stats[1]['loss'][()], stats[0]['loss'][()], rtol=1e-4)
    # Once done, the same command has nothing left to do.
    train_softmax.run_training(train_softmax.parse_arguments(argv('resumed')))
    assert 'Epoch: [' not in capsys.readouterr().out


def test_a_stopped_triplet_run_resumes_at_its_epoch(tmp_path, monkeypatch, capsys):
    data_dir = make_image_folders(tmp_path / 'data', 3, 3, size=8)
    argv = ['--model_def', 'models.dummy', '--image_size', '8', '--batch_size', '3',
            '--epoch_size', '2', '--max_nrof_epochs', '2', '--embedding_size', '4',
            '--people_per_batch', '3', '--images_per_person', '3', '--alpha', '4',
            '--optimizer', 'ADAM', '--data_dir', data_dir, '--run_name', 'run',
            '--logs_base_dir', str(tmp_path / 'logs'), '--models_base_dir', str(tmp_path / 'models')]
    with monkeypatch.context() as patch:
        stop_after_epoch(patch, train_tripletloss, 0)
        model_dir = train_tripletloss.run_training(train_tripletloss.parse_arguments(argv))
    assert checkpoints.newest_training_state(model_dir)[1] == 1
    capsys.readouterr()
    train_tripletloss.run_training(train_tripletloss.parse_arguments(argv))
    out = capsys.readouterr().out
    assert 'Resuming run run after epoch 1' in out and 'Epoch: [1][1/2]' in out
    assert 'Epoch: [0][' not in out
    prefix, epoch = checkpoints.newest_training_state(model_dir)
    assert epoch == 2 and checkpoint_values(prefix)['global_step'] == 4


def test_a_training_state_of_other_flags_is_refused(tmp_path, monkeypatch):
    data_dir = make_image_folders(tmp_path / 'data', 2, 2, size=8)
    argv = RESUME_ARGV + ['--data_dir', data_dir, '--run_name', 'run', '--max_nrof_epochs', '1',
                          '--logs_base_dir', str(tmp_path / 'logs'),
                          '--models_base_dir', str(tmp_path / 'models')]
    train_softmax.run_training(train_softmax.parse_arguments(argv))
    args = train_softmax.parse_arguments(argv + ['--optimizer', 'RMSPROP', '--max_nrof_epochs', '2'])
    with pytest.raises(FacenetError, match='does not fit this run .* resume with the flags'):
        train_softmax.run_training(args)
    for bad in ('a/b', '..'):
        with pytest.raises(SystemExit):
            train_softmax.parse_arguments(['--run_name', bad])


def test_a_run_name_in_use_is_refused(tmp_path):
    with checkpoints.ModelDirLock(str(tmp_path)):
        with pytest.raises(FacenetError, match='in use by another training run'):
            with checkpoints.ModelDirLock(str(tmp_path)):
                pass
    with checkpoints.ModelDirLock(str(tmp_path)):  # free again once the first run ends
        pass
