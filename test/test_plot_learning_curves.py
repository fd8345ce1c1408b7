"""util/plot_learning_curves.py and toolkit.training.learning_curves on generated training logs."""
import importlib.util
import os

import h5py
import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from toolkit import cli
from toolkit.errors import FacenetError
from toolkit.tf_compat import tf
from toolkit.training.learning_curves import load_run, moving_average, plot_group, read_stat_file


def _load_script():
    path = os.path.join(ROOT, 'util', 'plot_learning_curves.py')
    spec = importlib.util.spec_from_file_location('plot_learning_curves', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plot_learning_curves = _load_script()


def _write_stat_run(folder, max_nrof_epochs=4, epoch_size=10, epochs_done=3, validate_every=2):
    """A classic train_softmax log folder stopped after ``epochs_done`` epochs."""
    os.makedirs(folder)
    nrof_steps = max_nrof_epochs * epoch_size
    steps_done = epochs_done * epoch_size
    nrof_val = int(np.ceil(max_nrof_epochs / validate_every))
    stat = {name: np.zeros(nrof_steps, np.float32)
            for name in ('loss', 'xent_loss', 'reg_loss', 'center_loss', 'accuracy')}
    stat['loss'][:steps_done] = np.linspace(5.0, 2.0, steps_done)
    stat['xent_loss'][:steps_done] = np.linspace(4.0, 1.5, steps_done)
    stat['accuracy'][:steps_done] = np.linspace(0.1, 0.6, steps_done)
    for name in ('learning_rate', 'lfw_accuracy', 'lfw_valrate', 'time_train'):
        stat[name] = np.zeros(max_nrof_epochs, np.float32)
    stat['learning_rate'][:epochs_done] = [0.1, 0.1, 0.01][:epochs_done]
    stat['lfw_accuracy'][:epochs_done] = [0.90, 0.95, 0.97][:epochs_done]
    stat['time_train'][:epochs_done] = 12.0
    stat['val_loss'] = np.zeros(nrof_val, np.float32)
    stat['val_loss'][0] = 3.0
    stat['val_accuracy'] = np.zeros(nrof_val, np.float32)
    stat['val_accuracy'][0] = 0.4
    stat['prelogits_hist'] = np.zeros((max_nrof_epochs, 1000), np.float32)
    with h5py.File(os.path.join(folder, 'stat.h5'), 'w') as handle:
        for name, values in stat.items():
            handle.create_dataset(name, data=values)
    with open(os.path.join(folder, 'arguments.txt'), 'w') as handle:
        handle.write('epoch_size: %d\nvalidate_every_n_epochs: %d\n' % (epoch_size, validate_every))
    return folder


def _write_event_run(folder):
    """TensorBoard events as the training scripts write them (TF1 simple values) plus one
    TF2-style tensor scalar."""
    with tf.Graph().as_default():
        writer = tf.summary.FileWriter(folder)
        for step in (0, 100, 200):
            summary = tf.Summary()
            summary.value.add(tag='total_loss', simple_value=10.0 - step / 100.0)
            summary.value.add(tag='learning_rate', simple_value=0.05)
            summary.value.add(tag='time/total', simple_value=3.0)
            summary.value.add(tag='lfw/accuracy', tensor=tf.make_tensor_proto(0.8 + step / 2000.0))
            writer.add_summary(summary, step)
        writer.close()
    return folder


def test_read_stat_file_places_curves_on_steps(tmp_path):
    folder = _write_stat_run(str(tmp_path / 'run'))
    run = load_run(folder)
    assert run.name == 'run'
    curves = run.curves
    assert set(curves) == {'loss', 'xent_loss', 'accuracy', 'learning_rate', 'lfw_accuracy',
                           'time_train', 'val_loss', 'val_accuracy'}  # zero curves left out
    np.testing.assert_array_equal(curves['loss'].steps, np.arange(1, 31))
    assert curves['loss'].values[0] == 5.0 and curves['loss'].values[-1] == pytest.approx(2.0)
    np.testing.assert_array_equal(curves['learning_rate'].steps, [10, 20, 30])
    np.testing.assert_allclose(curves['lfw_accuracy'].values, [0.90, 0.95, 0.97])
    # Validation after epoch 2 only (epoch 4 not reached).
    np.testing.assert_array_equal(curves['val_loss'].steps, [20])
    np.testing.assert_allclose(curves['val_loss'].values, [3.0])


def test_read_event_files(tmp_path):
    run = load_run(_write_event_run(str(tmp_path / 'events')))
    assert set(run.curves) == {'total_loss', 'learning_rate', 'time/total', 'lfw/accuracy'}
    np.testing.assert_array_equal(run.curves['total_loss'].steps, [0, 100, 200])
    np.testing.assert_allclose(run.curves['total_loss'].values, [10, 9, 8])
    np.testing.assert_allclose(run.curves['lfw/accuracy'].values, [0.8, 0.85, 0.9])


def test_plot_groups_and_moving_average():
    assert plot_group('lfw/accuracy') == 'lfw_accuracy'
    assert plot_group('lfw_valrate') == 'lfw_accuracy'
    assert plot_group('val_accuracy') == 'accuracy'
    assert plot_group('total_loss (raw)') == 'loss'
    assert plot_group('learning_rate') == 'learning_rate'
    assert plot_group('time/total') is None
    np.testing.assert_allclose(moving_average([1, 2, 3, 4, 5], 2), [1, 1.5, 2.5, 3.5, 4.5])
    np.testing.assert_allclose(moving_average([1, 2, 3], 1), [1, 2, 3])


def test_script_writes_pngs_for_two_runs(tmp_path, capsys):
    stat_run = _write_stat_run(str(tmp_path / '20180402-114759'))
    event_run = _write_event_run(str(tmp_path / '20180408-102900'))
    output_dir = str(tmp_path / 'plots')
    args = plot_learning_curves.parse_arguments([output_dir, stat_run, event_run])
    assert plot_learning_curves.main(args) == 0
    names = sorted(os.listdir(output_dir))
    assert names == ['accuracy.png', 'learning_rate.png', 'lfw_accuracy.png', 'loss.png']
    for name in names:
        with Image.open(os.path.join(output_dir, name)) as image:
            assert image.format == 'PNG' and image.size == (640, 480)
            pixels = np.asarray(image.convert('L'))
        assert pixels.min() < 100 and pixels.max() > 200  # lines drawn on a white canvas
    out = capsys.readouterr().out
    assert '20180402-114759: accuracy, learning_rate' in out
    assert 'Wrote %s' % os.path.join(output_dir, 'loss.png') in out


def test_series_grouping_labels(tmp_path):
    run = load_run(_write_stat_run(str(tmp_path / 'a')))
    groups = plot_learning_curves.group_series([run], smoothing=10)
    assert set(groups['loss']) == {'loss', 'xent_loss', 'val_loss'}
    assert set(groups['lfw_accuracy']) == {'lfw_accuracy'}
    groups = plot_learning_curves.group_series([run, run._replace(name='b')], smoothing=10)
    assert 'b: val_loss' in groups['loss'] and 'a: loss' in groups['loss']


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    empty = tmp_path / 'empty'
    empty.mkdir()
    not_hdf5 = tmp_path / 'broken'
    not_hdf5.mkdir()
    (not_hdf5 / 'stat.h5').write_text('not hdf5')
    good = _write_stat_run(str(tmp_path / 'good'))
    cases = [([str(tmp_path / 'missing')], 'training log not found'),
             ([str(empty)], 'no stat.h5 or TensorBoard event file in'),
             ([str(not_hdf5)], 'cannot read'),
             ([good, '--labels', 'a,b'], '--labels has 2 names for 1 runs')]
    for runs, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            cli.run(plot_learning_curves.main, plot_learning_curves.parse_arguments,
                    [str(tmp_path / 'plots')] + runs)
        assert exit_info.value.code == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith('error: ') and message in err and '\n' not in err
    assert not os.path.exists(str(tmp_path / 'plots'))
    with pytest.raises(FacenetError, match='not a training stat file'):
        with h5py.File(str(tmp_path / 'other.h5'), 'w') as handle:
            handle.create_dataset('latent_vars', data=[1.0])
        read_stat_file(str(tmp_path / 'other.h5'))
