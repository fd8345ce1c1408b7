"""Loading models: frozen GraphDefs, checkpoint folders, and the tensors scripts use.

Every script finds the input, embeddings and phase_train tensors through
``get_model_tensors``; the names live here and nowhere else.
"""
import collections
import os
import re

import numpy as np

from toolkit.errors import FacenetError, op_error_reason
from toolkit.fileio import os_error_reason
from toolkit.tf_compat import tf

INPUT_NAME = 'input'
EMBEDDINGS_NAME = 'embeddings'
PHASE_TRAIN_NAME = 'phase_train'
LABEL_BATCH_NAME = 'label_batch'
IMAGE_BATCH_NAME = 'image_batch'
INPUT_TENSOR = INPUT_NAME + ':0'

DEFAULT_IMAGE_SIZE = 160

ModelTensors = collections.namedtuple('ModelTensors', ['images', 'embeddings', 'phase_train'])

# Top-level variable scope of a checkpoint -> name of the module that builds that network.
# Functions that rebuild a checkpoint from code take ``networks``: a callable from such a
# name to the module (scripts pass ``models.import_network``; the library imports no model).
MODEL_DEFS_BY_SCOPE = {
    'InceptionResnetV1': 'models.inception_resnet_v1',
    'InceptionResnetV2': 'models.inception_resnet_v2',
    'SqueezeNet': 'models.squeezenet',
}


# -- finding files --------------------------------------------------------------------------

def checkpoint_state(model_dir):
    """``tf.train.get_checkpoint_state(model_dir)`` (None without a ``checkpoint`` file), with a
    FacenetError for a state file that is not TensorFlow's text format (damaged, binary)."""
    try:
        return tf.train.get_checkpoint_state(model_dir)
    except Exception as error:  # UnicodeDecodeError, text_format.ParseError, OpError
        raise FacenetError('cannot read checkpoint state file %s: %s' % (
            os.path.join(model_dir, 'checkpoint'), op_error_reason(error))) from None


def get_model_filenames(model_dir):
    """Return ``(meta_file, ckpt_file)`` basenames of the checkpoint in ``model_dir``.

    The checkpoint is the one named by the ``checkpoint`` state file, or else the one with
    the highest step. ``meta_file`` is None when the folder has no ``.meta`` file.

    Raises:
        FacenetError: no checkpoint, or several ``.meta`` files.
    """
    if not os.path.isdir(model_dir):
        raise FacenetError('model directory not found: %s' % model_dir)
    files = os.listdir(model_dir)
    meta_files = sorted(name for name in files if name.endswith('.meta'))
    if len(meta_files) > 1:
        raise FacenetError('there should not be more than one meta file in the model directory '
                           '(%s): %s' % (model_dir, ', '.join(meta_files)))
    meta_file = meta_files[0] if meta_files else None
    state = checkpoint_state(model_dir)
    if state and state.model_checkpoint_path:
        ckpt_file = os.path.basename(state.model_checkpoint_path)
        if os.path.exists(os.path.join(model_dir, ckpt_file + '.index')):
            return meta_file, ckpt_file
    best_step, ckpt_file = -1, None
    for name in files:
        match = re.match(r'^(.*\.ckpt-(\d+))\.index$', name)
        if match and int(match.group(2)) > best_step:
            best_step, ckpt_file = int(match.group(2)), match.group(1)
    if ckpt_file is None:
        raise FacenetError('no checkpoint found in model directory %s' % model_dir)
    return meta_file, ckpt_file


# -- frozen graphs --------------------------------------------------------------------------

def read_graph_def(pb_path, lift_batch_size=True):
    """Parse a frozen GraphDef, with its batch dimension made variable (``lift_batch_size``).

    Raises:
        FacenetError: the file is missing or not a GraphDef.
    """
    if not os.path.isfile(pb_path):
        raise FacenetError('model file not found: %s' % pb_path)
    graph_def = tf.GraphDef()
    try:
        with open(pb_path, 'rb') as handle:
            content = handle.read()
    except OSError as error:
        raise FacenetError('cannot read model file %s: %s' % (pb_path, os_error_reason(error))
                           ) from None
    try:
        graph_def.ParseFromString(content)
    except Exception as error:  # protobuf raises its own DecodeError and others
        raise FacenetError('%s is not a TensorFlow GraphDef (.pb) file: %s'
                           % (pb_path, error)) from None
    if not graph_def.node:
        raise FacenetError('%s holds an empty graph' % pb_path)
    return lift_fixed_batch_size(graph_def) if lift_batch_size else graph_def


def lift_fixed_batch_size(graph_def):
    """Let a graph frozen with a fixed batch size (e.g. 1) accept any batch size.

    The ``input`` placeholder gets an unknown batch dimension and every constant Reshape
    target whose first entry equals the old batch size gets -1 there (its other entries
    are made explicit from the graph's static shapes). Graphs with a variable batch size
    are returned unchanged.
    """
    input_node = next((n for n in graph_def.node
                       if n.name == INPUT_NAME and n.op == 'Placeholder'), None)
    if input_node is None or 'shape' not in input_node.attr:
        return graph_def
    dims = input_node.attr['shape'].shape.dim
    if not dims or dims[0].size <= 0:
        return graph_def
    batch = dims[0].size
    static_shapes = _reshape_output_shapes(graph_def)
    dims[0].size = -1
    constants = {n.name: n for n in graph_def.node if n.op == 'Const'}
    for node in graph_def.node:
        if node.op != 'Reshape' or len(node.input) < 2:
            continue
        shape_node = constants.get(node.input[1].split(':')[0])
        if shape_node is None:
            continue
        values = tf.make_ndarray(shape_node.attr['value'].tensor)
        if values.ndim == 1 and values.size > 0 and values[0] == batch:
            static = static_shapes.get(node.name)
            if static is not None and len(static) == values.size:
                values = np.array(static, dtype=values.dtype)
            values = values.copy()
            values[0] = -1
            if np.count_nonzero(values == -1) > 1:
                raise FacenetError('cannot make the batch size of this graph variable '
                                   '(node %s)' % node.name)
            shape_node.attr['value'].tensor.CopyFrom(tf.make_tensor_proto(values))
    return graph_def


def _reshape_output_shapes(graph_def):
    """Static output shapes of the Reshape nodes, where fully known."""
    shapes = {}
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(graph_def, name='')
        for op in graph.get_operations():
            if op.type == 'Reshape' and op.outputs[0].shape.is_fully_defined():
                shapes[op.name] = op.outputs[0].shape.as_list()
    return shapes


# -- checkpoints ----------------------------------------------------------------------------

def checkpoint_variables(ckpt_path):
    """Dict of variable name -> shape stored in a checkpoint (its data files checked).

    Raises:
        FacenetError: unreadable index, or data files missing or shorter than the variables.
    """
    try:
        reader = tf.train.NewCheckpointReader(ckpt_path)
        shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    except Exception as error:  # corrupt or truncated checkpoint files
        raise FacenetError('cannot read checkpoint %s: %s'
                           % (ckpt_path, str(error).splitlines()[0])) from None
    check_checkpoint_data(ckpt_path, shapes, dtypes)
    return shapes


def check_checkpoint_data(ckpt_path, shapes, dtypes):
    """FacenetError when a checkpoint's ``.data-*`` files are missing or truncated.

    TensorFlow finds out only while restoring (NotFoundError, OutOfRangeError), after the
    graph is built; the index tells what the data files must hold, so check it first.
    """
    pattern = re.compile(r'^%s\.data-(\d+)-of-(\d+)$' % re.escape(os.path.basename(ckpt_path)))
    folder = os.path.dirname(ckpt_path) or '.'
    found = {}
    for name in os.listdir(folder):
        match = pattern.match(name)
        if match:
            found[int(match.group(1))] = (int(match.group(2)), os.path.join(folder, name))
    nrof_shards = max([count for count, _ in found.values()] or [1])
    missing = sorted(set(range(nrof_shards)) - set(found))
    if missing:
        raise FacenetError('checkpoint %s is incomplete: its data file %s.data-%05d-of-%05d is '
                           'missing' % (ckpt_path, ckpt_path, missing[0], nrof_shards))
    expected = sum(int(np.prod(shape)) * dtypes[name].size for name, shape in shapes.items()
                   if dtypes[name] != tf.string)
    for _, path in found.values():
        try:
            open(path, 'rb').close()
        except OSError as error:
            raise FacenetError('cannot read checkpoint data file %s: %s'
                               % (path, os_error_reason(error))) from None
    actual = sum(os.path.getsize(path) for _, path in found.values())
    if actual < expected:
        raise FacenetError('checkpoint %s is truncated: its data files hold %d bytes, its '
                           'variables need %d' % (ckpt_path, actual, expected))


def _import_meta_graph(meta_path, input_map):
    """Import a ``.meta`` graph; None when this TensorFlow cannot rebuild it."""
    try:
        return tf.train.import_meta_graph(meta_path, clear_devices=True, input_map=input_map)
    except (ValueError, KeyError, TypeError, tf.errors.OpError) as error:
        tf.get_logger().info('import_meta_graph failed (%s); rebuilding from code', error)
        return None


def checkpoint_network(ckpt_path):
    """Return ``(model_def, embedding_size)`` of the network stored in a checkpoint."""
    variables = checkpoint_variables(ckpt_path)
    for scope, model_def in MODEL_DEFS_BY_SCOPE.items():
        shape = variables.get(scope + '/Bottleneck/weights')
        if shape:
            return model_def, shape[-1]
    raise FacenetError('checkpoint %s holds no known network (no */Bottleneck/weights)'
                       % ckpt_path)


def restoring_saver(ckpt_path, graph=None):
    """A Saver restoring every variable of the graph that the checkpoint holds, by name."""
    graph = graph or tf.get_default_graph()
    stored = checkpoint_variables(ckpt_path)
    with graph.as_default():
        var_list = {v.op.name: v for v in tf.global_variables() if v.op.name in stored}
    if not var_list:
        raise FacenetError('checkpoint %s holds none of the model variables' % ckpt_path)
    return tf.train.Saver(var_list)


def build_inference_graph(ckpt_path, networks, input_map=None, image_size=DEFAULT_IMAGE_SIZE):
    """Build the network a checkpoint was trained with, from code, for inference.

    The model definition and embedding size are read from the checkpoint's variables, the
    module from ``networks(model_def)``. Creates the ``input`` placeholder (unless
    ``input_map`` supplies it), ``phase_train`` (default False) and ``embeddings``.
    Returns a Saver over the network's variables.
    """
    model_def, embedding_size = checkpoint_network(ckpt_path)
    network = networks(model_def)
    images = (input_map or {}).get(INPUT_TENSOR)
    if images is None:
        images = tf.placeholder(tf.float32, [None, image_size, image_size, 3], name=INPUT_NAME)
    tf.placeholder_with_default(False, [], name=PHASE_TRAIN_NAME)
    prelogits = inference_of_size(network, images, model_def, 1.0, phase_train=False,
                                  bottleneck_layer_size=embedding_size)
    tf.nn.l2_normalize(prelogits, 1, 1e-10, name=EMBEDDINGS_NAME)
    return restoring_saver(ckpt_path)


def inference_of_size(network, images, model_def, *args, **kwargs):
    """The prelogits of ``network.inference(images, ...)``; an input smaller than the
    network's smallest feature map (TensorFlow's "Negative dimension") is a FacenetError."""
    try:
        prelogits, _ = network.inference(images, *args, **kwargs)
    except ValueError as error:
        if 'Negative dimension' not in str(error):
            raise
        raise FacenetError('--image_size %s is too small for %s'
                           % (images.shape[1], model_def)) from None
    return prelogits


def resolve_model(model):
    """``('graph', pb_path)`` or ``('checkpoint', folder)`` for a model argument.

    A folder without checkpoint files but with exactly one ``.pb`` counts as that graph.

    Raises:
        FacenetError: the path does not exist.
    """
    model_exp = os.path.expanduser(model)
    if os.path.isfile(model_exp):
        return 'graph', model_exp
    if not os.path.isdir(model_exp):
        raise FacenetError('model not found: %s' % model)
    names = os.listdir(model_exp)
    pb_files = [name for name in names if name.endswith('.pb')]
    if not any('.ckpt' in name for name in names) and len(pb_files) == 1:
        return 'graph', os.path.join(model_exp, pb_files[0])
    return 'checkpoint', model_exp


def load_model(model, input_map=None, session=None, image_size=DEFAULT_IMAGE_SIZE,
               networks=None):
    """Load a model into the default graph and restore it into ``session``.

    Args:
        model: a frozen GraphDef ``.pb`` file, or a folder holding a checkpoint
            (``model-*.meta`` + ``model-*.ckpt-N``, as the classic training and ours write;
            a folder holding only a ``.pb`` works too).
        input_map: optional ``{'input:0': tensor}`` to feed the network from a pipeline.
        session: session to restore variables into; default: the default session.
        image_size: input size of a graph rebuilt from code (when the ``.meta`` file is
            missing or cannot be imported by this TensorFlow).
        networks: model_def name -> network module, for that rebuild (see
            MODEL_DEFS_BY_SCOPE); None: such a checkpoint is a FacenetError.

    Raises:
        FacenetError: the model is missing, corrupt, or of an unknown kind.
    """
    kind, model_path = resolve_model(model)
    if kind == 'graph':
        print('Model filename: %s' % model_path)
        tf.import_graph_def(read_graph_def(model_path), input_map=input_map, name='')
        return
    print('Model directory: %s' % model_path)
    meta_file, ckpt_file = get_model_filenames(model_path)
    print('Metagraph file: %s' % meta_file)
    print('Checkpoint file: %s' % ckpt_file)
    ckpt_path = os.path.join(model_path, ckpt_file)
    saver = None
    if meta_file:
        saver = _import_meta_graph(os.path.join(model_path, meta_file), input_map)
    if saver is None:
        if networks is None:
            raise FacenetError('%s has no .meta file this TensorFlow can import, and no network '
                               'modules were given to rebuild it from code' % model_path)
        saver = build_inference_graph(ckpt_path, networks, input_map, image_size)
    session = session or tf.get_default_session()
    if session is None:
        raise ValueError('load_model needs a session (pass one or use it as default)')
    checkpoint_variables(ckpt_path)  # data files complete
    restore_variables(session, saver, ckpt_path)


def restore_variables(sess, saver, prefix):
    """``saver.restore`` with a FacenetError for a damaged checkpoint (e.g. a bad checksum)."""
    try:
        saver.restore(sess, prefix)
    except (tf.errors.OpError, ValueError) as error:
        raise FacenetError('cannot restore checkpoint %s: %s'
                           % (prefix, op_error_reason(error))) from None


# -- tensors --------------------------------------------------------------------------------

def get_model_tensors(graph=None):
    """The input, embeddings and (when present) phase_train tensors of a loaded model.

    Raises:
        FacenetError: the graph has no ``input`` or ``embeddings`` tensor.
    """
    graph = graph or tf.get_default_graph()

    def tensor(name, required):
        try:
            return graph.get_tensor_by_name(name + ':0')
        except KeyError:
            if required:
                raise FacenetError('the model has no "%s" tensor; is it a FaceNet model?'
                                   % name) from None
            return None

    return ModelTensors(tensor(INPUT_NAME, True), tensor(EMBEDDINGS_NAME, True),
                        tensor(PHASE_TRAIN_NAME, False))


def inference_feed(tensors, images=None):
    """Feed dict for an inference run: the images, and phase_train False when present."""
    feed = {}
    if images is not None:
        feed[tensors.images] = images
    if tensors.phase_train is not None:
        feed[tensors.phase_train] = False
    return feed


def check_image_size(tensors, height, width):
    """Raise FacenetError when the model's input needs another height and width."""
    expected = expected_image_size(tensors)
    if expected is not None and (height, width) != expected:
        raise FacenetError('the model takes %dx%d images, got %dx%d (set --image_size %d)'
                           % (expected[1], expected[0], width, height, expected[0]))


def expected_image_size(tensors):
    """The (height, width) the model's input requires, or None when any size goes."""
    shape = tensors.images.get_shape()
    if shape.ndims != 4:
        return None
    height, width = shape.as_list()[1:3]
    if height is None or width is None:
        return None
    return height, width
