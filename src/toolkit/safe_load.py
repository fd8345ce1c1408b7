"""Reading pickled files without running code from them.

Python's ``pickle`` builds objects by calling whatever callables the file names, so a crafted
classifier file or MTCNN weight file could run any command. The loaders here admit only an
explicit table of types: numpy arrays, dtypes and scalars, plain containers, and the
scikit-learn estimators the toolkit (and the classic toolkit) write. Any other name in the
file stops the load with a FacenetError before anything is called.

Classifier files are the classic pickled ``(model, class_names)`` tuples (a scikit-learn
``SVC``, or ours: a calibrated linear SVC or a 1-nearest-neighbour classifier); classic MTCNN
weights are ``.npy`` files holding one pickled dict of arrays.
"""
import importlib
import pickle

from toolkit.errors import FacenetError

# numpy's own pickle helpers; numpy 1.x wrote them under numpy.core, numpy 2 under numpy._core.
_NUMPY_CALLABLES = {
    ('numpy', 'dtype'), ('numpy', 'ndarray'),
    ('numpy._core.multiarray', '_reconstruct'), ('numpy._core.multiarray', 'scalar'),
    ('numpy._core.numeric', '_frombuffer'),
}
# Modules under their older names: numpy 1.x's, and Python 2's (pickle protocols 0-2).
_RENAMED_MODULES = {'numpy.core.multiarray': 'numpy._core.multiarray',
                    'numpy.core.numeric': 'numpy._core.numeric',
                    'copy_reg': 'copyreg', '__builtin__': 'builtins'}
# Byte strings as pickled by protocol 2 (``_codecs.encode(text, 'latin1')``), and the generic
# object rebuilding of protocols 0 and 1 (it only calls ``__new__`` of admitted classes).
_BUILTIN_CALLABLES = {
    ('_codecs', 'encode'), ('builtins', 'bytes'), ('builtins', 'bytearray'),
    ('builtins', 'set'), ('builtins', 'frozenset'), ('builtins', 'complex'),
    ('builtins', 'slice'), ('builtins', 'object'), ('copyreg', '_reconstructor'),
}
# The estimators classifier.py TRAIN writes (ours and the classic SVC).
CLASSIFIER_TYPES = {
    ('sklearn.svm._classes', 'SVC'),
    ('sklearn.calibration', 'CalibratedClassifierCV'),
    ('sklearn.calibration', '_CalibratedClassifier'),
    ('sklearn.calibration', '_SigmoidCalibration'),
    ('sklearn.neighbors._classification', 'KNeighborsClassifier'),
}
ARRAY_TYPES = _NUMPY_CALLABLES | _BUILTIN_CALLABLES


class _RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose ``find_class`` resolves only the admitted (module, name) pairs."""

    def __init__(self, handle, admitted, encoding):
        super().__init__(handle, encoding=encoding)
        self._admitted = admitted

    def find_class(self, module, name):
        module = _RENAMED_MODULES.get(module, module)
        if (module, name) not in self._admitted:
            raise pickle.UnpicklingError('it names %s.%s, which is not a type this file may '
                                         'hold' % (module, name))
        return getattr(importlib.import_module(module), name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError('it holds a persistent reference, which is not allowed')


def restricted_load(handle, admitted, encoding='ASCII'):
    """Unpickle one object from ``handle``, resolving only the ``admitted`` (module, name) pairs.

    Raises:
        pickle.UnpicklingError: the file names anything else. Truncated or foreign files
            raise what ``pickle`` raises for them (EOFError, ValueError, ...).
    """
    return _RestrictedUnpickler(handle, admitted, encoding).load()


def _describe(error):
    return str(error) or type(error).__name__


def load_classifier_pickle(path):
    """The object pickled in a classifier file, numpy and the classifier types only.

    Raises:
        FacenetError: the file names another type (it could run code) or is no pickle.
    """
    try:
        with open(path, 'rb') as handle:
            return restricted_load(handle, ARRAY_TYPES | CLASSIFIER_TYPES)
    except pickle.UnpicklingError as error:
        raise FacenetError('%s is not a classifier file this toolkit reads (%s); nothing in it '
                           'was run' % (path, _describe(error))) from None
    except OSError as error:
        raise FacenetError('cannot read %s: %s' % (path, error.strerror or error)) from None
    except Exception as error:  # truncated or foreign files raise many types
        raise FacenetError('%s is not a classifier file (a pickle written by classifier.py '
                           'TRAIN): %s' % (path, _describe(error))) from None


def load_pickled_npy(path):
    """The object held by a ``.npy`` file of a pickled (object) array, numpy types only.

    Like ``np.load(path, allow_pickle=True, encoding='latin1').item()`` for the classic
    MTCNN ``det*.npy`` files (pickled by Python 2), without calling anything but numpy's
    array constructors.

    Raises:
        FacenetError: not a ``.npy`` file, not an object array, or a pickle naming other
            types.
    """
    from numpy.lib import format as npy_format
    try:
        with open(path, 'rb') as handle:
            version = npy_format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(handle)
            else:
                shape, _, dtype = npy_format.read_array_header_2_0(handle)
            if not dtype.hasobject:
                raise FacenetError('%s holds a plain %s array, not the pickled weight dict'
                                   % (path, dtype))
            array = restricted_load(handle, ARRAY_TYPES, encoding='latin1')
    except FacenetError:
        raise
    except OSError as error:
        raise FacenetError('cannot read %s: %s' % (path, error.strerror or error)) from None
    except Exception as error:  # a foreign, truncated or crafted file
        raise FacenetError('cannot read %s: %s; nothing in it was run'
                           % (path, _describe(error))) from None
    if getattr(array, 'shape', None) != shape or shape != ():
        raise FacenetError('%s holds an array of shape %s, not one pickled object'
                           % (path, getattr(array, 'shape', '?')))
    return array.item()
