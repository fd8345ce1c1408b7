"""Checkpoints for training: crash-safe saving, and restoring a pretrained model by name.

A checkpoint set is ``model-<subdir>.ckpt-<step>.{index,data-*}`` plus one
``model-<subdir>.meta``, the classic layout. Saving writes the set under a hidden temporary
prefix and renames it (data files first, index last), then rewrites the ``checkpoint`` state
file atomically: an interrupted save leaves only hidden temporary files, and the state file
and the file names always point at complete sets.
"""
import collections
import contextlib
import glob
import os
import re
import shutil
import signal
import threading

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

from toolkit.modelfiles import loading as model_io
from toolkit.errors import FacenetError, OutputError, op_error_reason
from toolkit.fileio import is_temporary_name, make_dirs, os_error_reason, unwritable_reason
from toolkit.tf_compat import tf

RestoreReport = collections.namedtuple('RestoreReport', ['checkpoint', 'restored', 'skipped'])
RemovedFiles = collections.namedtuple('RemovedFiles', ['files', 'bytes'])

# Saves go through hidden names starting so (TensorFlow adds its own ``.tempstate<n>`` files).
TEMPORARY_PREFIX = '.tmp-model-'

_STEP_PATTERN = re.compile(r'^(.+\.ckpt-(\d+))\.index$')
_EPOCH_PATTERN = re.compile(r'\.state-(\d+)$')
# The sub-folder of a run's model folder holding its training state (see TrainingState).
STATE_FOLDER = 'training_state'
# The TensorFlow state file naming the newest set of each kind of checkpoint.
_STATE_FILES = {'ckpt': 'checkpoint', 'state': 'training_state'}


def resolve_checkpoint(path):
    """The checkpoint prefix meant by ``path``: a prefix, its ``.index``/``.meta``, or a folder.

    For a folder: the newest checkpoint its ``checkpoint`` state file names, else the
    ``*.ckpt-<step>`` set with the highest step, else its only ``*.index`` set.

    Raises:
        FacenetError: nothing restorable at ``path`` (none there, or its index unreadable or
            its data files missing or truncated).
    """
    prefix = _checkpoint_prefix(os.path.expanduser(path))
    model_io.checkpoint_variables(prefix)  # index readable, data files complete
    return prefix


def _checkpoint_prefix(path):
    if os.path.isdir(path):
        state = model_io.checkpoint_state(path)
        if state and state.model_checkpoint_path:
            prefix = state.model_checkpoint_path
            if not os.path.isabs(prefix):
                prefix = os.path.join(path, prefix)
            if os.path.isfile(prefix + '.index'):
                return prefix
        return _newest_index_in(path)
    for suffix in ('.index', '.meta'):
        if path.endswith(suffix) and os.path.isfile(path[:-len(suffix)] + '.index'):
            return path[:-len(suffix)]
    if os.path.isfile(path + '.index'):
        return path
    raise FacenetError('pretrained model not found: %s (expected a checkpoint folder or '
                       'prefix such as model-20170512-110547.ckpt-250000, or a frozen .pb)'
                       % path)


def resolve_pretrained(path):
    """``('graph', pb_path)`` for a frozen graph (a ``.pb`` file, or a folder holding one
    and no checkpoint), else ``('checkpoint', prefix)`` as ``resolve_checkpoint`` finds it.

    Raises:
        FacenetError: nothing restorable at ``path``.
    """
    expanded = os.path.expanduser(path)
    if os.path.isfile(expanded) and expanded.endswith('.pb'):
        return 'graph', expanded
    if os.path.isdir(expanded):
        names = [name for name in os.listdir(expanded) if not name.startswith('.')]
        graphs = [name for name in names if name.endswith('.pb')]
        if len(graphs) == 1 and not any(name.endswith('.index') for name in names):
            return 'graph', os.path.join(expanded, graphs[0])
    return 'checkpoint', resolve_checkpoint(path)


def _newest_index_in(folder):
    names = [name for name in os.listdir(folder)
             if name.endswith('.index') and not name.startswith('.')]
    stepped = [(int(m.group(2)), m.group(1)) for m in map(_STEP_PATTERN.match, names) if m]
    if stepped:
        return os.path.join(folder, max(stepped)[1])
    if len(names) == 1:
        return os.path.join(folder, names[0][:-len('.index')])
    raise FacenetError('no checkpoint found in %s' % folder if not names else
                       'several checkpoints in %s; name one of them' % folder)


def in_scopes(name, scopes):
    """True when variable ``name`` is one of ``scopes`` or lies under one of them."""
    return any(name == scope or name.startswith(scope.rstrip('/') + '/') for scope in scopes)


def restore_pretrained(sess, path, variables, replaceable_scopes=('Logits',), skip_scopes=()):
    """Restore ``variables`` from the checkpoint (or frozen graph) at ``path``, by name.

    A frozen Inception-ResNet-v1 graph is unfrozen in memory (``modelfiles.unfreezing``:
    folded batch norms are unfolded).

    Variables under ``replaceable_scopes`` (the classifier, whose size follows the number
    of classes) are left as initialized when the checkpoint lacks them or has another shape;
    any other missing or mis-shaped variable means the checkpoint is not for this model.
    Variables under ``skip_scopes`` are left as initialized in any case.

    Returns:
        RestoreReport(checkpoint prefix, restored names, skipped ``(name, reason)`` pairs).

    Raises:
        FacenetError: the checkpoint is missing, unreadable, or does not fit the model.
    """
    kind, prefix = resolve_pretrained(path)
    if kind == 'graph':
        # Imported here: nets.layers, which modelfiles.unfreezing needs, imports this module.
        from toolkit.modelfiles import loading, unfreezing, writing
        graph_def = loading.read_graph_def(prefix, lift_batch_size=False)
        graph_weights = unfreezing.unfreeze_weights(
            graph_def, {v.op.name: v.shape.as_list() for v in variables}).weights
        stored_shapes = {name: value.shape for name, value in graph_weights.items()}
    else:
        stored_shapes = model_io.checkpoint_variables(prefix)
    to_restore, skipped, mismatched = {}, [], []
    for variable in variables:
        name = variable.op.name
        if in_scopes(name, skip_scopes):
            skipped.append((name, 'not restored on request'))
            continue
        shape = variable.shape.as_list()
        stored = stored_shapes.get(name)
        if stored is not None and list(stored) == shape:
            to_restore[name] = variable
            continue
        reason = ('not in the checkpoint' if stored is None
                  else 'shape %s in the checkpoint, %s in the model' % (list(stored), shape))
        (skipped if in_scopes(name, replaceable_scopes) else mismatched).append((name, reason))
    if mismatched:
        examples = '; '.join('%s: %s' % item for item in mismatched[:3])
        raise FacenetError('checkpoint %s does not fit the model (%d variables differ, e.g. %s); '
                           'check --model_def and --embedding_size'
                           % (prefix, len(mismatched), examples))
    if not to_restore:
        raise FacenetError('checkpoint %s has none of the model variables' % prefix)
    if kind == 'graph':
        writing.load_variables(sess, {v: graph_weights[name] for name, v in to_restore.items()})
    else:
        model_io.restore_variables(sess, tf.train.Saver(to_restore), prefix)
    return RestoreReport(prefix, sorted(to_restore), skipped)


class CheckpointWriter:
    """Saves ``model-<name>.ckpt-<step>`` sets and the ``model-<name>.meta`` graph safely.

    Args:
        saver: a tf.train.Saver over the variables to store.
        model_dir: output folder.
        model_name: the run's sub-folder name (``yyyymmdd-hhmmss``).
        max_to_keep: number of newest checkpoint sets kept.
        metagraph: a MetaGraphDef to write as the ``.meta`` (default: the saver's graph).
        kind: ``'ckpt'`` for the model checkpoints (state file ``checkpoint``), or
            ``'state'`` for the training state of a run (``model-<name>.state-<epoch>``
            sets, state file ``training_state``; see TrainingState).
    """

    def __init__(self, saver, model_dir, model_name, max_to_keep=3, metagraph=None,
                 kind='ckpt'):
        self.saver = saver
        self.model_dir = model_dir
        self.model_name = model_name
        self.max_to_keep = max_to_keep
        self.metagraph = metagraph
        self.kind = kind
        self.kept = []

    @property
    def metagraph_path(self):
        return os.path.join(self.model_dir, 'model-%s.meta' % self.model_name)

    def save(self, sess, step):
        """Write the variables for ``step``; returns the checkpoint prefix."""
        final_prefix = os.path.join(self.model_dir, 'model-%s.%s-%d'
                                    % (self.model_name, self.kind, step))
        temp_prefix = os.path.join(self.model_dir, '%s%s.%s-%d'
                                   % (TEMPORARY_PREFIX, self.model_name, self.kind, step))
        reason = unwritable_reason(final_prefix + '.index')
        if reason:  # e.g. the model folder is gone or a file took its place
            raise OutputError('cannot write checkpoint %s: %s' % (final_prefix, reason))
        with _write_errors('checkpoint %s' % final_prefix):
            try:
                self.saver.save(sess, temp_prefix, write_meta_graph=False, write_state=False)
                for data_file in sorted(glob.glob(glob.escape(temp_prefix) + '.data-*')):
                    os.replace(data_file, final_prefix + data_file[len(temp_prefix):])
                os.replace(temp_prefix + '.index', final_prefix + '.index')
            finally:
                for leftover in glob.glob(glob.escape(temp_prefix) + '.*'):
                    os.remove(leftover)
            self.kept = [prefix for prefix in self.kept if prefix != final_prefix] + [final_prefix]
            self._write_state()
            while len(self.kept) > self.max_to_keep:
                self._delete_set(self.kept.pop(0))
                self._write_state()
        return final_prefix

    def _write_state(self):
        # Relative names keep the model folder movable.
        names = [os.path.basename(prefix) for prefix in self.kept]
        tf.train.update_checkpoint_state(self.model_dir, names[-1], names,
                                         latest_filename=_STATE_FILES[self.kind])

    @staticmethod
    def _delete_set(prefix):
        for path in glob.glob(glob.escape(prefix) + '.index') + glob.glob(glob.escape(prefix) + '.data-*'):
            os.remove(path)

    def save_metagraph(self):
        """Export the graph once (``model-<name>.meta``); returns False when it already exists."""
        if os.path.exists(self.metagraph_path):
            return False
        temp_path = os.path.join(self.model_dir, '%s%s.meta.part'
                                 % (TEMPORARY_PREFIX, self.model_name))
        with _write_errors(self.metagraph_path):
            try:
                if self.metagraph is None:
                    self.saver.export_meta_graph(temp_path)
                else:
                    with open(temp_path, 'wb') as handle:
                        handle.write(self.metagraph.SerializeToString())
                os.replace(temp_path, self.metagraph_path)
            finally:
                if os.path.exists(temp_path):
                    os.remove(temp_path)
        return True


class TrainingState:
    """The whole state of a training run, saved with its checkpoints so that the run can go on.

    The classic checkpoints (``model-<name>.ckpt-<n>``) hold the trainable variables only,
    as the classic scripts wrote them, and stay so. With each, the state
    ``training_state/model-<name>.state-<epoch>`` (a sub-folder of the model folder) holds
    every variable of the training graph (weights, batch-norm statistics, global step,
    optimizer slots, moving averages, center-loss centers) after ``epoch`` complete epochs;
    the ``training_state`` file there names the newest.

    Args:
        variables: the variables to save and restore (the training graph's global ones).
        model_dir, model_name: the run's model folder and sub-folder name (None on a
            worker that writes nothing and only restores).
    """

    def __init__(self, variables, model_dir=None, model_name=None, max_to_keep=3):
        self.variables = list(variables)
        self.saver = tf.train.Saver(self.variables, max_to_keep=None)
        self.writer = (CheckpointWriter(self.saver, os.path.join(model_dir, STATE_FOLDER),
                                        model_name, max_to_keep, kind='state')
                       if model_dir else None)

    def save(self, sess, epoch):
        """Write the state after ``epoch`` complete epochs; returns its prefix."""
        make_dirs(self.writer.model_dir, 'training state folder')
        return self.writer.save(sess, epoch)

    def restore(self, sess, prefix):
        """Restore every variable from the state at ``prefix``.

        Raises:
            FacenetError: the state is damaged or was written by a graph with other
                variables (other flags, e.g. --optimizer or --model_def).
        """
        stored = model_io.checkpoint_variables(prefix)
        differing = [v.op.name for v in self.variables
                     if list(stored.get(v.op.name, [-1])) != v.shape.as_list()]
        if differing:
            raise FacenetError('the training state %s does not fit this run (%d variables '
                               'missing or of another shape, e.g. %s): resume with the flags '
                               'of the run that wrote it' % (prefix, len(differing),
                                                              differing[0]))
        model_io.restore_variables(sess, self.saver, prefix)


def newest_training_state(model_dir):
    """``(prefix, epoch)`` of the newest complete training state in a run's model folder,
    or None when it has none (see TrainingState).

    Raises:
        FacenetError: the state the ``training_state`` file names is damaged.
    """
    folder = os.path.join(model_dir, STATE_FOLDER)
    if not os.path.isdir(folder):
        return None
    state = tf.train.get_checkpoint_state(folder, latest_filename=_STATE_FILES['state'])
    if not state or not state.model_checkpoint_path:
        return None
    prefix = os.path.join(folder, os.path.basename(state.model_checkpoint_path))
    match = _EPOCH_PATTERN.search(prefix)
    if not match:
        return None
    model_io.checkpoint_variables(prefix)  # index readable, data files complete
    return prefix, int(match.group(1))


@contextlib.contextmanager
def _write_errors(what):
    """TensorFlow's and the OS's write errors (disk full, ...) as a FacenetError."""
    try:
        yield
    except tf.errors.OpError as error:
        raise OutputError('cannot write %s: %s' % (what, op_error_reason(error))) from None
    except OSError as error:
        raise OutputError('cannot write %s: %s' % (what, os_error_reason(error))) from None


class ModelDirLock:
    """Context manager holding an exclusive ``flock`` on a training run's model folder.

    The lock tells ``remove_abandoned_saves`` of other runs that this run is alive; it dies
    with the process, so a killed run's folder is unlocked at once.
    """

    def __init__(self, model_dir):
        self.model_dir = model_dir
        self._fd = None

    def __enter__(self):
        if fcntl is not None:
            self._fd = os.open(self.model_dir, os.O_RDONLY)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(self._fd)
                self._fd = None
                raise FacenetError('%s is in use by another training run (same --run_name?)'
                                   % self.model_dir) from None
        return self

    def __exit__(self, *exc_info):
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None
        return False


# TensorFlow's update_checkpoint_state writes ``checkpoint`` through ``checkpoint.tmp<uuid>``
# (``training_state`` likewise, in a run's training-state folder).
_STATE_TEMPORARY = re.compile(r'^(checkpoint|training_state)\.tmp[0-9a-f]{32}$')
_DATA_FILE = re.compile(r'^(.+\.ckpt-\d+)\.data-\d{5}-of-\d{5}$')


def _abandoned(name, names):
    """Whether the file ``name`` of a run folder holding ``names`` is a killed save's leftover:
    a temporary checkpoint, state or metadata file, or a data file whose index was never
    written (a kill between the two renames) or was already deleted."""
    if name.startswith(TEMPORARY_PREFIX) or _STATE_TEMPORARY.match(name) or \
            is_temporary_name(name):
        return True
    data = _DATA_FILE.match(name)
    return bool(data) and data.group(1) + '.index' not in names


def _leftovers(folder, in_log_folder=False):
    """The killed saves' leftovers in a run folder (its log folder: temporary files only)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:  # missing, not a folder, or unreadable
        return []
    if in_log_folder:
        return [entry for entry in entries if is_temporary_name(entry.name)]
    names = {entry.name for entry in entries}
    return [entry for entry in entries if _abandoned(entry.name, names)]


def remove_abandoned_saves(models_base_dir, logs_base_dir=None):
    """Remove the temporary files of interrupted saves in the run folders of models_base_dir
    (and the temporary files in the runs' folders of the same name in logs_base_dir).

    A run killed while saving (``kill -9``, a power cut) leaves its hidden temporary
    checkpoint files (tens of MB each), perhaps a temporary ``checkpoint`` state file or a
    data file without its index (``_abandoned``), or a half-written ``stat.h5``. Runs whose
    model folder is locked by a living process (``ModelDirLock``) are left alone.

    Returns:
        RemovedFiles(number of files, bytes).
    """
    files = size = 0
    if fcntl is None or not os.path.isdir(models_base_dir):
        return RemovedFiles(0, 0)
    for name in sorted(os.listdir(models_base_dir)):
        folder = os.path.join(models_base_dir, name)
        leftovers = _leftovers(folder) + _leftovers(os.path.join(folder, STATE_FOLDER))
        if logs_base_dir:
            leftovers += _leftovers(os.path.join(logs_base_dir, name), in_log_folder=True)
        if not leftovers:
            continue
        fd = os.open(folder, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a living run is saving there
            for entry in leftovers:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        size += sum(os.path.getsize(os.path.join(root, f))
                                    for root, _, names in os.walk(entry.path) for f in names)
                        shutil.rmtree(entry.path)
                    else:
                        size += entry.stat(follow_symlinks=False).st_size
                        os.remove(entry.path)
                    files += 1
                except OSError:
                    pass
        finally:
            os.close(fd)
    return RemovedFiles(files, size)


class StopRequest:
    """Context manager turning the first SIGINT/SIGTERM into a request to stop cleanly.

    Training loops check ``requested`` after each step, then save and return. A second
    Ctrl-C raises KeyboardInterrupt at once (a save in progress is then abandoned, leaving
    the previous checkpoint in place). Outside the main thread it does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print('\nStop requested (%s): finishing the current step and saving; press Ctrl-C '
              'again to abort' % signal.Signals(signum).name, flush=True)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
        return False
