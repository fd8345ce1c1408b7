"""What a model needs to know about its input: a small JSON file next to the model.

A model folder (checkpoint or frozen graph) may hold ``facenet_model.json``::

    {"format_version": 1, "input_standardization": "fixed", "embedding_size": 512}

``input_standardization`` is ``prewhiten`` (per-image ``(x - mean) / std``, the classic
default) or ``fixed`` (``(x - 127.5) / 128``, ``--use_fixed_image_standardization``). The
models written by download_and_extract.py and convert_keras_model.py, and the checkpoints of
train_softmax.py and train_tripletloss.py, carry one. A ``.pb`` file or checkpoint prefix
named directly uses the file of its folder. The file is read as JSON data only.

``fixed_standardization`` is the one place that decides how a script standardizes a model's
input: the flag when given (with a warning when it contradicts the file), else the file,
else prewhitening as the classic scripts did.
"""
import collections
import json
import os

from toolkit.errors import FacenetError
from toolkit.fileio import atomic_open, os_error_reason

FILE_NAME = 'facenet_model.json'
FORMAT_VERSION = 1
PREWHITEN = 'prewhiten'
FIXED = 'fixed'
STANDARDIZATIONS = {
    PREWHITEN: 'per-image prewhitening',
    FIXED: 'fixed standardization ((x - 127.5) / 128)',
}

ModelMetadata = collections.namedtuple('ModelMetadata',
                                       ['input_standardization', 'embedding_size', 'path'])
ModelMetadata.__doc__ = """A model's metadata file: ``input_standardization`` ('prewhiten' or
'fixed'), ``embedding_size`` (int) and ``path`` (the file it was read from)."""


def metadata_path(model):
    """Where the metadata of ``model`` (a folder, a .pb file or a checkpoint prefix) lives."""
    model = os.path.expanduser(model)
    if os.path.isdir(model):
        return os.path.join(model, FILE_NAME)
    return os.path.join(os.path.dirname(model) or '.', FILE_NAME)


def standardization_name(fixed):
    """'fixed' or 'prewhiten' for a ``--use_fixed_image_standardization`` value."""
    return FIXED if fixed else PREWHITEN


def write_model_metadata(model_dir, input_standardization, embedding_size):
    """Write ``<model_dir>/facenet_model.json`` (atomically); returns its path.

    Args:
        model_dir: the model's folder (created when missing).
        input_standardization: 'prewhiten' or 'fixed'.
        embedding_size: length of the model's embeddings.
    """
    if input_standardization not in STANDARDIZATIONS:
        raise ValueError('input_standardization must be one of %s, got %r'
                         % (sorted(STANDARDIZATIONS), input_standardization))
    path = os.path.join(os.path.expanduser(model_dir), FILE_NAME)
    content = {'format_version': FORMAT_VERSION, 'input_standardization': input_standardization,
               'embedding_size': int(embedding_size)}
    with atomic_open(path) as handle:
        json.dump(content, handle, indent=2)
        handle.write('\n')
    return path


def read_model_metadata(model):
    """The ModelMetadata of ``model``, or None when it has no metadata file.

    Raises:
        FacenetError: the file exists but is not a valid metadata file.
    """
    path = metadata_path(model)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            content = json.load(handle)
    except OSError as error:
        raise FacenetError('cannot read model metadata %s: %s' % (path, os_error_reason(error))
                           ) from None
    except ValueError as error:
        raise FacenetError('cannot read model metadata %s: %s' % (path, error)) from None
    if not isinstance(content, dict):
        raise FacenetError('model metadata %s is not a JSON object' % path)
    standardization = content.get('input_standardization')
    if standardization not in STANDARDIZATIONS:
        raise FacenetError('model metadata %s: input_standardization must be "prewhiten" or '
                           '"fixed", got %s' % (path, json.dumps(standardization)))
    embedding_size = content.get('embedding_size')
    if isinstance(embedding_size, bool) or not isinstance(embedding_size, int) \
            or embedding_size <= 0:
        raise FacenetError('model metadata %s: embedding_size must be a positive integer, '
                           'got %s' % (path, json.dumps(embedding_size)))
    return ModelMetadata(standardization, embedding_size, path)


def fixed_standardization(model, flag=None, warn=None,
                          flag_name='--use_fixed_image_standardization'):
    """Whether to feed ``model`` fixed-standardized images (True) or prewhitened ones (False).

    Args:
        model: the model path a script was given.
        flag: the script's flag value: True or False when given, None when not.
        warn: optional callable taking one line, told when the flag contradicts the metadata.
        flag_name: the flag's name, for the warning.

    Returns:
        The flag when given; else what the model's metadata says; else False (prewhitening,
        the classic default).

    Raises:
        FacenetError: the model's metadata file is malformed.
    """
    metadata = read_model_metadata(model)
    if metadata is None:
        return bool(flag)
    wanted = metadata.input_standardization == FIXED
    if flag is None:
        return wanted
    if bool(flag) != wanted and warn is not None:
        given = flag_name if flag else '%s False' % flag_name
        warn('warning: %s contradicts %s (the model expects %s); using the flag'
             % (given, metadata.path, STANDARDIZATIONS[metadata.input_standardization]))
    return bool(flag)
