"""Converting Keras ``facenet_keras.h5`` weights to the classic checkpoint variable names.

The Keras port of the 20170512-110547 model flattens each slim scope into one layer name
(``Repeat/block35_1/Branch_0/Conv2d_1x1`` became ``Block35_1_Branch_0_Conv2d_1x1``) and
gives batch norm its own layer (``<layer>_BatchNorm``). The tables below undo that.
"""
import h5py
import numpy as np

from toolkit.errors import FacenetError

MODEL_SCOPE = 'InceptionResnetV1/'

# Classic repeat scopes and the Keras layer-name prefixes they became. The last Block8
# (no activation) sits outside the repeat in the classic graph and is "Block8_6" in Keras.
SCOPE_PREFIXES = (
    ('Repeat/block35_', 'Block35_'),
    ('Repeat_1/block17_', 'Block17_'),
    ('Repeat_2/block8_', 'Block8_'),
    ('Block8/', 'Block8_6/'),
)

# Classic variable name -> (Keras layer suffix, Keras weight name).
VARIABLE_SUFFIXES = {
    'weights': ('', 'kernel'),
    'biases': ('', 'bias'),
    'BatchNorm/beta': ('_BatchNorm', 'beta'),
    'BatchNorm/moving_mean': ('_BatchNorm', 'moving_mean'),
    'BatchNorm/moving_variance': ('_BatchNorm', 'moving_variance'),
}


def keras_weight_name(classic_name):
    """Map a classic variable name to its ``<layer>/<layer>/<weight>:0`` path in the h5 file.

    >>> keras_weight_name('InceptionResnetV1/Repeat/block35_1/Branch_0/Conv2d_1x1/weights')
    'Block35_1_Branch_0_Conv2d_1x1/Block35_1_Branch_0_Conv2d_1x1/kernel:0'
    """
    if not classic_name.startswith(MODEL_SCOPE):
        raise ValueError('not an Inception-ResNet-v1 variable: %s' % classic_name)
    name = classic_name[len(MODEL_SCOPE):]
    for suffix, (layer_suffix, weight) in VARIABLE_SUFFIXES.items():
        if name.endswith('/' + suffix):
            scope = name[:-len(suffix) - 1]
            break
    else:
        raise ValueError('unexpected variable: %s' % classic_name)
    for classic_prefix, keras_prefix in SCOPE_PREFIXES:
        if (scope + '/').startswith(classic_prefix):
            scope = keras_prefix + scope[len(classic_prefix):]
            break
    layer = scope.replace('/', '_') + layer_suffix
    return '%s/%s/%s:0' % (layer, layer, weight)


def read_keras_weights(h5_path, variable_names):
    """Read the arrays for ``variable_names`` (classic names) from a Keras h5 file.

    Raises:
        FacenetError: the file is not an HDF5 Keras model or lacks a needed weight.
    """
    try:
        handle = h5py.File(h5_path, 'r')
    except (OSError, ValueError) as error:
        raise FacenetError('cannot read Keras model %s: %s' % (h5_path, error)) from None
    with handle:
        group = handle['model_weights'] if 'model_weights' in handle else handle
        weights = {}
        for name in variable_names:
            path = keras_weight_name(name)
            if path not in group:
                raise FacenetError('%s is not a FaceNet Keras model: no weight %s'
                                   % (h5_path, path))
            weights[name] = np.asarray(group[path])
        return weights
