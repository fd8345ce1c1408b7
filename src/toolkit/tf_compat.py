"""TensorFlow in TF1 graph mode, imported one way by every module, when first used, quietly.

The toolkit builds graphs with placeholders, sessions and reference variables like
the classic code, so the v2 behaviours (eager execution, resource variables, control
flow v2) are switched off once, here. Import ``tf`` from this module, never
``tensorflow`` directly.

``tf`` (``tensorflow.compat.v1``) and ``tf2`` (``tensorflow``) stand for the modules and
import TensorFlow the first time one of their attributes is used, not when a module that
imports them is loaded: a script parses its arguments (``--help``, a wrong flag) at once,
before the seconds that TensorFlow's start-up takes. That start-up prints some lines
straight to the process's stderr whatever the log level (the absl pre-initialisation
warning, the oneDNN and CUDA-driver notices, ``failed call to cuInit`` on machines without
a GPU). They are held back: ``TF_CPP_MIN_LOG_LEVEL=0`` in the environment shows them (and
all of TensorFlow's log lines); any other line written during the import passes through.
"""
import contextlib
import os
import re
import sys
import tempfile
import threading

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# TensorFlow turns its oneDNN CPU kernels on by default only on the newest CPUs. On an
# AVX2 CPU they make the MTCNN networks about 2x, a training step 1.3-1.4x and the
# Inception-ResNet forward pass about 1.5x faster (tmp/bench_*.py); results agree to
# float rounding. TF_ENABLE_ONEDNN_OPTS=0 in the environment still turns them off.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')

# TensorFlow's __init__ imports Keras (and through it scikit-learn) eagerly, only to register
# Keras optimizers for reading Keras SavedModels, which the toolkit never does: about a third of
# TensorFlow's start-up here. A None entry in sys.modules makes that one import fail at once
# (TensorFlow ignores the ImportError); removing the entry afterwards lets a later
# ``import keras`` work as usual.
KERAS_EAGER_IMPORTS = ('keras.src.optimizers', 'tf_keras.src.optimizers')

# The lines TensorFlow's start-up writes to stderr on every run (see the module docstring).
STARTUP_NOISE = re.compile(
    r'WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR'
    r'|[IWE]\d{4} [\d:. ]+\d+ \S+\] (oneDNN custom operations are on'
    r'|Could not find cuda drivers on your machine'
    r'|failed call to cuInit'
    r'|This TensorFlow binary is optimized to use available CPU instructions)'
    r'|To enable the following instructions: .* rebuild TensorFlow with the appropriate')

_lock = threading.RLock()
_loaded = []  # the tensorflow module, once imported
_on_import = []  # callables waiting for the import (see when_imported)


def startup_noise_hidden():
    """True unless ``TF_CPP_MIN_LOG_LEVEL=0`` asks for all of TensorFlow's lines."""
    return os.environ.get('TF_CPP_MIN_LOG_LEVEL', '2').strip() != '0'


@contextlib.contextmanager
def stderr_without(pattern):
    """Hold back what is written to file descriptor 2 (also by C++ code) while the block runs;
    afterwards write out again every line that ``pattern`` does not match."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield  # no usable stderr: nothing to filter
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode('utf-8', 'replace')
            kept = [line for line in text.splitlines(True) if not pattern.match(line)]
            if kept:
                sys.stderr.write(''.join(kept))
                sys.stderr.flush()


def _import_tensorflow():
    blocked = [name for name in KERAS_EAGER_IMPORTS
               if 'tensorflow' not in sys.modules and name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None
    try:
        import tensorflow
    finally:
        for name in blocked:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]
    # Probing the devices now makes the CUDA platform report (cuInit) inside the filter.
    tensorflow.config.list_physical_devices()
    return tensorflow


def tensorflow_module():
    """The ``tensorflow`` module, imported (and set to TF1 graph mode) on the first call."""
    if not _loaded:
        with _lock:
            if not _loaded:
                quiet = stderr_without(STARTUP_NOISE) if startup_noise_hidden() \
                    else contextlib.nullcontext()
                with quiet:
                    tensorflow = _import_tensorflow()
                    tensorflow.get_logger().setLevel('ERROR')
                    tensorflow.compat.v1.disable_v2_behavior()
                _loaded.append(tensorflow)
                while _on_import:
                    _on_import.pop(0)(tensorflow)
    return _loaded[0]


def when_imported(callback):
    """Call ``callback(tensorflow)`` once TensorFlow is imported (at once if it is already)."""
    with _lock:
        if not _loaded:
            _on_import.append(callback)
            return
    callback(_loaded[0])


class DeferredModule:
    """Stands for a module of TensorFlow and imports TensorFlow when first used.

    After the import every attribute of the module is copied onto this object, so that
    ``tf.X`` costs a plain attribute lookup.
    """

    def __init__(self, name, resolve):
        self.__dict__['_name'] = name
        self.__dict__['_resolve'] = resolve

    def _module(self):
        module = self._resolve(tensorflow_module())
        if '_copied' not in self.__dict__:
            self.__dict__.update(
                {key: value for key, value in vars(module).items() if key not in self.__dict__})
            self.__dict__['_copied'] = True
        return module

    def __getattr__(self, name):
        return getattr(self._module(), name)

    def __setattr__(self, name, value):
        setattr(self._module(), name, value)
        self.__dict__[name] = value

    def __dir__(self):
        return dir(self._module())

    def __repr__(self):
        state = 'imported' if _loaded else 'not imported yet'
        return '<TensorFlow module %s (%s)>' % (self._name, state)


tf = DeferredModule('tensorflow.compat.v1', lambda tensorflow: tensorflow.compat.v1)
tf2 = DeferredModule('tensorflow', lambda tensorflow: tensorflow)
