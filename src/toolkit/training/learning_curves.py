"""Learning curves of training runs, read from ``stat.h5`` or TensorBoard event files.

A run's log folder (``logs_base_dir/<timestamp>/``) holds ``stat.h5`` written by
``train_softmax.py`` and the TensorBoard event files of every training script. Both are
read into curves: ``name -> Curve(steps, values)``, with the x axis in training steps.

``stat.h5`` layout (classic): per-step arrays of length ``max_nrof_epochs * epoch_size``
(``loss``, ``xent_loss``, ``reg_loss``, ``center_loss``, ``accuracy``, ...), per-epoch
arrays of length ``max_nrof_epochs`` (``learning_rate``, ``lfw_accuracy``, ``lfw_valrate``,
``time_*``) and per-validation arrays ``val_*`` (one entry every
``validate_every_n_epochs`` epochs and at the last epoch). Entries not reached yet are 0
and are left out.
"""
import collections
import glob
import math
import os

import h5py
import numpy as np

from toolkit.errors import FacenetError

Curve = collections.namedtuple('Curve', ['steps', 'values'])
Run = collections.namedtuple('Run', ['name', 'curves'])

STAT_FILENAME = 'stat.h5'
EVENT_FILE_PATTERN = 'events.out.tfevents.*'
DEFAULT_VALIDATE_EVERY_N_EPOCHS = 5

# Plot groups: (file stem, title, y label, predicate on a curve name), first match wins.
PLOT_GROUPS = (
    ('learning_rate', 'Learning rate', 'Learning rate', lambda name: 'learning_rate' in name),
    ('lfw_accuracy', 'LFW accuracy and validation rate', 'Accuracy / VAL@FAR=1e-3',
     lambda name: name.startswith('lfw')),
    ('accuracy', 'Training and validation accuracy', 'Accuracy',
     lambda name: 'accuracy' in name),
    ('loss', 'Training and validation loss', 'Loss', lambda name: 'loss' in name),
)


def plot_group(name):
    """The PLOT_GROUPS stem a curve belongs to, or None for curves not plotted (times...)."""
    for stem, _, _, matches in PLOT_GROUPS:
        if matches(name.lower()):
            return stem
    return None


def moving_average(values, window):
    """Trailing mean over ``window`` values (shorter at the start), NaN-free input."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or values.size == 0:
        return values
    cumsum = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, values.size + 1), window)
    return (cumsum[1:] - cumsum[np.arange(1, values.size + 1) - counts]) / counts


def read_arguments_file(path):
    """``arguments.txt`` (``name: value`` lines) as a dict of strings; {} when absent."""
    arguments = {}
    if os.path.isfile(path):
        with open(path) as handle:
            for line in handle:
                name, sep, value = line.partition(':')
                if sep:
                    arguments[name.strip()] = value.strip()
    return arguments


def _last_nonzero(values):
    nonzero = np.flatnonzero(values)
    return int(nonzero[-1]) + 1 if nonzero.size else 0


def _validation_epochs(nrof_samples, max_nrof_epochs, validate_every_n_epochs):
    """Epoch of each ``val_*`` entry: every n epochs, and the last epoch."""
    epochs = np.minimum(np.arange(1, nrof_samples + 1) * validate_every_n_epochs,
                        max_nrof_epochs)
    return epochs


def _guess_validate_every(nrof_samples, max_nrof_epochs, arguments):
    if 'validate_every_n_epochs' in arguments:
        return int(arguments['validate_every_n_epochs'])
    if math.ceil(max_nrof_epochs / DEFAULT_VALIDATE_EVERY_N_EPOCHS) == nrof_samples:
        return DEFAULT_VALIDATE_EVERY_N_EPOCHS
    for every in range(1, max_nrof_epochs + 1):
        if math.ceil(max_nrof_epochs / every) == nrof_samples:
            return every
    return DEFAULT_VALIDATE_EVERY_N_EPOCHS


def read_stat_file(path, arguments=None):
    """Curves of a classic ``stat.h5``; ``arguments`` from the run's arguments.txt.

    Raises:
        FacenetError: not an HDF5 file, or one with neither ``loss`` nor ``learning_rate``.
    """
    arguments = arguments or {}
    try:
        with h5py.File(path, 'r') as handle:
            arrays = {name: np.asarray(handle[name][()], dtype=np.float64)
                      for name in handle.keys() if isinstance(handle[name], h5py.Dataset)}
    except OSError as error:
        raise FacenetError('cannot read %s: %s' % (path, error)) from None
    arrays = {name: values for name, values in arrays.items() if values.ndim == 1}
    if 'loss' not in arrays and 'learning_rate' not in arrays:
        raise FacenetError('%s is not a training stat file (no loss or learning_rate)' % path)
    max_nrof_epochs = len(arrays.get('learning_rate', ())) or None
    nrof_steps = len(arrays['loss']) if 'loss' in arrays else None
    epoch_size = (nrof_steps // max_nrof_epochs if nrof_steps and max_nrof_epochs
                  else int(arguments.get('epoch_size', 1000)))
    steps_done = _last_nonzero(arrays['loss']) if 'loss' in arrays else None
    epochs_done = (math.ceil(steps_done / epoch_size) if steps_done is not None
                   else _last_nonzero(arrays['learning_rate']))

    curves = {}
    for name, values in arrays.items():
        if name.startswith('val_') and max_nrof_epochs:
            every = _guess_validate_every(len(values), max_nrof_epochs, arguments)
            epochs = _validation_epochs(len(values), max_nrof_epochs, every)
            done = epochs <= epochs_done
            steps, values = epochs[done] * epoch_size, values[done]
        elif nrof_steps and len(values) == nrof_steps:
            steps, values = np.arange(1, steps_done + 1), values[:steps_done]
        elif max_nrof_epochs and len(values) == max_nrof_epochs:
            steps, values = np.arange(1, epochs_done + 1) * epoch_size, values[:epochs_done]
        else:
            continue
        if np.any(values != 0):
            curves[name] = Curve(np.asarray(steps, dtype=np.float64), values)
    return curves


def _scalar(value):
    """A summary value's number: ``simple_value`` (TF1 writers) or a scalar tensor (TF2)."""
    if value.HasField('simple_value'):
        return float(value.simple_value)
    if value.HasField('tensor') and not value.tensor.tensor_shape.dim:
        from toolkit.tf_compat import tf
        array = tf.make_ndarray(value.tensor)
        if array.dtype.kind in 'fiu':
            return float(array)
    return None


def read_event_files(paths):
    """Scalar curves of TensorBoard event files: tag -> Curve, sorted by step.

    Raises:
        FacenetError: a file is corrupt.
    """
    from toolkit.tf_compat import tf
    points = collections.defaultdict(dict)
    for path in paths:
        try:
            for event in tf.train.summary_iterator(path):
                for value in event.summary.value:
                    number = _scalar(value)
                    if number is not None:
                        points[value.tag][int(event.step)] = number
        except tf.errors.DataLossError as error:
            raise FacenetError('event file %s is corrupt: %s' % (path, error)) from None
    curves = {}
    for tag, by_step in points.items():
        steps = np.array(sorted(by_step), dtype=np.float64)
        curves[tag] = Curve(steps, np.array([by_step[s] for s in sorted(by_step)]))
    return curves


def load_run(path):
    """Read one run: a log folder, a ``stat.h5`` file or an event file.

    A folder's ``stat.h5`` is preferred; without it its event files are read.

    Raises:
        FacenetError: the path does not exist or holds no training log.
    """
    path = os.path.expanduser(path)
    if os.path.isdir(path):
        folder = path
        stat_file = os.path.join(path, STAT_FILENAME)
        event_files = sorted(glob.glob(os.path.join(path, EVENT_FILE_PATTERN)))
        if os.path.isfile(stat_file):
            event_files = []
        else:
            stat_file = None
    elif os.path.isfile(path):
        folder = os.path.dirname(path)
        is_event_file = os.path.basename(path).startswith('events.out.tfevents')
        stat_file, event_files = (None, [path]) if is_event_file else (path, [])
    else:
        raise FacenetError('training log not found: %s' % path)
    if stat_file is None and not event_files:
        raise FacenetError('no %s or TensorBoard event file in %s' % (STAT_FILENAME, path))
    name = os.path.basename(os.path.normpath(folder or '.'))
    if stat_file:
        arguments = read_arguments_file(os.path.join(folder, 'arguments.txt'))
        return Run(name, read_stat_file(stat_file, arguments))
    return Run(name, read_event_files(event_files))
