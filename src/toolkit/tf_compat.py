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

A process that only builds and runs small graphs of a few ops (the MTCNN aligner) may call
``use_graph_core()`` first: ``tf`` then imports only the modules that define the names of
``GRAPH_CORE``, not the whole ``tensorflow`` package (about 720 modules instead of 2,460:
1.1 to 1.3 CPU seconds against 2.6 to 3.4). Those names are the very objects of
``tensorflow.compat.v1``; the first name outside them imports the whole package as usual.
"""
import contextlib
import importlib
import importlib.util
import os
import re
import site
import sys
import tempfile
import threading
import types

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

# The names of ``tensorflow.compat.v1`` that the MTCNN detector's graph (align.detect_face,
# align.detector) and toolkit.session use, and the module that defines each: a graph-core
# import (``use_graph_core``) imports only these modules (test_tf_graph_core checks that each
# entry is the object tensorflow.compat.v1 exports under that name).
GRAPH_CORE = {
    'ConfigProto': ('tensorflow.core.protobuf.config_pb2', 'ConfigProto'),
    'GPUOptions': ('tensorflow.core.protobuf.config_pb2', 'GPUOptions'),
    'Graph': ('tensorflow.python.framework.ops', 'Graph'),
    'GraphDef': ('tensorflow.core.framework.graph_pb2', 'GraphDef'),
    'import_graph_def': ('tensorflow.python.framework.importer', 'import_graph_def'),
    'Session': ('tensorflow.python.client.session', 'Session'),
    'float32': ('tensorflow.python.framework.dtypes', 'float32'),
    'uint8': ('tensorflow.python.framework.dtypes', 'uint8'),
    'placeholder': ('tensorflow.python.ops.array_ops', 'placeholder'),
    'reshape': ('tensorflow.python.ops.array_ops', 'reshape'),
    'transpose': ('tensorflow.python.ops.array_ops', 'transpose'),
    'where': ('tensorflow.python.ops.array_ops', 'where'),
    'cast': ('tensorflow.python.ops.math_ops', 'cast'),
    'div': ('tensorflow.python.ops.math_ops', 'div'),
    'exp': ('tensorflow.python.ops.math_ops', 'exp'),
    'matmul': ('tensorflow.python.ops.math_ops', 'matmul'),
    'maximum': ('tensorflow.python.ops.gen_math_ops', 'maximum'),
    'reduce_max': ('tensorflow.python.ops.math_ops', 'reduce_max_v1'),
    'reduce_sum': ('tensorflow.python.ops.math_ops', 'reduce_sum_v1'),
    'get_variable': ('tensorflow.python.ops.variable_scope', 'get_variable'),
    'variable_scope': ('tensorflow.python.ops.variable_scope', 'variable_scope'),
    'global_variables': ('tensorflow.python.ops.variables', 'global_variables'),
    'zeros_initializer': ('tensorflow.python.ops.init_ops', 'Zeros'),
    'nn.bias_add': ('tensorflow.python.ops.nn_ops', 'bias_add'),
    'nn.conv2d': ('tensorflow.python.ops.nn_ops', 'conv2d'),
    'nn.depthwise_conv2d_native': ('tensorflow.python.ops.nn_ops', 'depthwise_conv2d_native'),
    'nn.max_pool2d': ('tensorflow.python.ops.nn_ops', 'max_pool2d'),
}
# Imported too: these modules register the variable classes with variable_scope when they
# are imported (the package's __init__ imports them on the way).
GRAPH_CORE_SUPPORT = ('tensorflow.python.ops.variable_v1', 'tensorflow.python.ops.ref_variable',
                      'tensorflow.python.ops.resource_variable_ops')

_lock = threading.RLock()
_loaded = []  # the tensorflow module, once imported
_on_import = []  # callables waiting for the import (see when_imported)
_core = {}  # the graph core's names (see use_graph_core), once imported
_core_wanted = []  # [True] once use_graph_core() was called


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


def _quiet_import():
    """The start-up lines' filter around an import, unless they are asked for."""
    return stderr_without(STARTUP_NOISE) if startup_noise_hidden() else contextlib.nullcontext()


def _import_tensorflow():
    if isinstance(sys.modules.get('tensorflow'), _CorePackage):
        del sys.modules['tensorflow']  # the graph core's modules stay imported and are reused
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
                with _quiet_import():
                    tensorflow = _import_tensorflow()
                    tensorflow.get_logger().setLevel('ERROR')
                    tensorflow.compat.v1.disable_v2_behavior()
                _loaded.append(tensorflow)
                while _on_import:
                    _on_import.pop(0)(tensorflow)
    return _loaded[0]


def use_graph_core():
    """Make ``tf`` import only the modules of ``GRAPH_CORE`` (see the module docstring).

    Call it before TensorFlow is imported; it does nothing once it is, or when TensorFlow
    plug-ins are installed (their loading is part of the package's own import). Returns
    True when the graph-core import is in use.
    """
    with _lock:
        if not _loaded and 'tensorflow' not in sys.modules and not _plugins_present():
            _core_wanted[:] = [True]
        return bool(_core_wanted)


def import_now():
    """Import TensorFlow now rather than at first use: the graph core after
    ``use_graph_core()``, else the whole package (e.g. to overlap other work with it, or to
    time it)."""
    if _core_wanted and not _loaded:
        _graph_core()
    else:
        tensorflow_module()


def _plugins_present():
    """True when the whole package's import would load kernel or device plug-ins."""
    spec = importlib.util.find_spec('tensorflow')
    if spec is None or not spec.submodule_search_locations:
        return True  # let the usual import report it
    if any(os.environ.get(name) for name in ('TF_PLUGGABLE_DEVICE_LIBRARY_PATH',
                                              'TF_USE_MODULAR_FILESYSTEM')):
        return True
    if os.path.isdir(os.path.join(list(spec.submodule_search_locations)[0], 'core', 'kernels')):
        return True
    folders = list(site.getsitepackages()) + [path for path in sys.path if path]
    return any(os.path.isdir(os.path.join(folder, 'tensorflow-plugins')) for folder in folders)


class _CorePackage(types.ModuleType):
    """``sys.modules['tensorflow']`` during a graph-core import: a package whose ``__init__``
    did not run. Any attribute it lacks imports the whole package (which replaces it)."""

    def __getattr__(self, name):
        if name.startswith('__') or not _core:
            raise AttributeError(name)
        return getattr(tensorflow_module(), name)


class _CoreNamespace:
    """A sub-module of the graph core (``tf.nn``): its names of ``GRAPH_CORE``, and any
    other name from the whole package."""

    def __init__(self, name, values):
        self._name = name
        self.__dict__.update(values)

    def __getattr__(self, name):
        return getattr(getattr(tensorflow_module().compat.v1, self._name), name)


def _graph_core():
    """The graph core's names ``{name: object}``, imported on the first call."""
    if not _core:
        with _lock:
            if not _core:
                with _quiet_import():
                    _core.update(_import_graph_core())
    return _core


def _import_graph_core():
    spec = importlib.util.find_spec('tensorflow')
    package = _CorePackage('tensorflow')
    package.__spec__, package.__file__ = spec, spec.origin
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules['tensorflow'] = package
    from tensorflow.python.framework import config, versions
    from tensorflow.python.platform import tf_logging
    tf_logging.get_logger().setLevel('ERROR')
    from tensorflow.python.compat import v2_compat
    for name in GRAPH_CORE_SUPPORT:
        importlib.import_module(name)
    v2_compat.disable_v2_behavior()
    package.__version__ = versions.__version__
    names, namespaces = {}, {}
    for name, (module, attribute) in GRAPH_CORE.items():
        value = getattr(importlib.import_module(module), attribute)
        if '.' in name:
            space, name = name.split('.')
            namespaces.setdefault(space, {})[name] = value
        else:
            names[name] = value
    names.update({space: _CoreNamespace(space, values) for space, values in namespaces.items()})
    config.list_physical_devices()  # the CUDA platform's report, inside the filter
    return names


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
    ``tf.X`` costs a plain attribute lookup. With ``graph_core`` (``tf`` only), after
    ``use_graph_core()`` a name of ``GRAPH_CORE`` comes from the graph core while the whole
    package is not imported.
    """

    def __init__(self, name, resolve, graph_core=False):
        self.__dict__['_name'] = name
        self.__dict__['_resolve'] = resolve
        self.__dict__['_graph_core'] = graph_core

    def _module(self):
        module = self._resolve(tensorflow_module())
        if '_copied' not in self.__dict__:
            self.__dict__.update(
                {key: value for key, value in vars(module).items() if key not in self.__dict__})
            self.__dict__['_copied'] = True
        return module

    def __getattr__(self, name):
        if self._graph_core and _core_wanted and not _loaded:
            value = _graph_core().get(name)
            if value is not None:
                return value
        return getattr(self._module(), name)

    def __setattr__(self, name, value):
        setattr(self._module(), name, value)
        self.__dict__[name] = value

    def __dir__(self):
        return dir(self._module())

    def __repr__(self):
        state = 'imported' if _loaded else 'graph core' if _core else 'not imported yet'
        return '<TensorFlow module %s (%s)>' % (self._name, state)


tf = DeferredModule('tensorflow.compat.v1', lambda tensorflow: tensorflow.compat.v1,
                    graph_core=True)
tf2 = DeferredModule('tensorflow', lambda tensorflow: tensorflow)
