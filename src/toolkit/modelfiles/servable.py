"""The embedding network as deployment formats need it: frozen, folded, no training nodes.

``load_network`` turns anything ``load_model`` takes into a ``Network``: a frozen GraphDef
from ``input`` to ``embeddings`` with the batch norms folded into the convolutions (the
bottleneck's, which follows a dense layer, becomes a multiply-add), no ``phase_train``
placeholder (a classic graph's batch-norm switches are resolved for inference) and nothing
the embeddings do not need. ``serving_graph_def`` puts the input standardization in front
of it, so that the exported model takes plain uint8 RGB faces.
"""
import collections

import numpy as np

from toolkit.data import input_pipeline
from toolkit.errors import FacenetError
from toolkit.inference import graph_optimize
from toolkit.inference.fast_graph import frozen_graph_def
from toolkit.modelfiles import loading as model_io
from toolkit.tf_compat import tf

IMAGES_NAME = 'images'
EMBEDDINGS_NAME = 'embeddings'
TRAINING_OPS = frozenset(['Switch', 'Merge', 'Assign', 'AssignSub', 'AssignAdd', 'VariableV2',
                          'VarHandleOp', 'Placeholder', 'PlaceholderWithDefault'])

# graph_def: the rewritten network ``input`` -> ``embeddings``; frozen_graph_def: the model's
# own frozen graph as read or frozen from its checkpoint (what exports are checked against).
Network = collections.namedtuple('Network', ['graph_def', 'image_size', 'embedding_size',
                                             'frozen_graph_def'])


def load_network(model, image_size=model_io.DEFAULT_IMAGE_SIZE, *, networks):
    """The model's embedding network for export (``networks``: model_def name -> network
    module, to rebuild a checkpoint from code).

    Raises:
        FacenetError: the model has no ``input`` or ``embeddings``, or cannot take
            ``image_size`` x ``image_size`` images.
    """
    frozen = frozen_graph_def(model, image_size, networks=networks)
    names = {node.name for node in frozen.node}
    for required in (model_io.INPUT_NAME, model_io.EMBEDDINGS_NAME):
        if required not in names:
            raise FacenetError('the model has no "%s" tensor; is it a FaceNet model?' % required)
    graph_def = resolve_phase_train(frozen)
    graph_def = tf.graph_util.extract_sub_graph(graph_def, [model_io.EMBEDDINGS_NAME])
    graph_def, _ = graph_optimize.fold_batch_norms(graph_def)
    graph_def, _ = graph_optimize.fold_output_scales(graph_def)
    graph_def, _ = graph_optimize.batch_norms_to_multiply_add(graph_def)
    graph_def, _ = graph_optimize.remove_identities(graph_def)
    embedding_size = _check_image_size(graph_def, image_size)
    return Network(graph_def, image_size, embedding_size, frozen)


def _check_image_size(graph_def, image_size):
    """Embedding size of the network on image_size x image_size inputs (one trial run,
    without Grappler's graph rewrites, which take seconds on a large network)."""
    config = tf.ConfigProto()
    config.graph_options.rewrite_options.disable_meta_optimizer = True
    with tf.Graph().as_default() as graph:
        images = tf.placeholder(tf.float32, [None, image_size, image_size, 3])
        try:
            embeddings, = tf.import_graph_def(graph_def, {model_io.INPUT_TENSOR: images},
                                              [model_io.EMBEDDINGS_NAME + ':0'], name='')
            with tf.Session(graph=graph, config=config) as sess:
                value = sess.run(embeddings, {images: np.zeros((1, image_size, image_size, 3))})
        except (ValueError, tf.errors.OpError) as error:
            message = str(error).strip().splitlines()[0]
            raise FacenetError('the model cannot take %dx%d images (--image_size %d): %s'
                               % (image_size, image_size, image_size, message)) from None
    if value.ndim != 2:
        raise FacenetError('the model\'s embeddings have shape %s, expected N x D'
                           % (value.shape,))
    return int(value.shape[1])


# -- removing training nodes -------------------------------------------------------------------

def resolve_phase_train(graph_def):
    """Replace ``phase_train`` by False and keep only the inference side of its switches.

    Classic frozen graphs switch their batch norms on ``phase_train`` (Switch/Merge pairs
    of ``tf.cond``); every Switch whose predicate is a constant becomes an Identity of its
    live output and every Merge an Identity of its one live input; dead nodes are dropped.
    """
    original, graph_def = graph_def, tf.GraphDef()
    graph_def.CopyFrom(original)
    for node in graph_def.node:
        if node.name == model_io.PHASE_TRAIN_NAME and node.op.startswith('Placeholder'):
            node.CopyFrom(_bool_const(node.name, False))
    return _resolve_constant_switches(graph_def)


def _bool_const(name, value):
    node = tf.NodeDef(name=name, op='Const')
    node.attr['dtype'].type = tf.bool.as_datatype_enum
    node.attr['value'].tensor.CopyFrom(tf.make_tensor_proto(value, tf.bool))
    return node


def _resolve_constant_switches(graph_def):
    nodes = {node.name: node for node in graph_def.node}
    constants = {name: bool(tf.make_ndarray(node.attr['value'].tensor))
                 for name, node in nodes.items()
                 if node.op == 'Const' and node.attr['dtype'].type == tf.bool.as_datatype_enum}
    live_port = {}  # Switch name -> the output port that carries data
    dead = set()
    for node in _topological_order(graph_def):
        inputs = [(_name(i), _port(i), i.startswith('^')) for i in node.input]

        def is_dead(name, port, control):
            return name in dead or (not control and name in live_port and port != live_port[name])

        if node.op == 'Merge':
            live = [i for i, (n, p, c) in enumerate(inputs) if not c and not is_dead(n, p, c)]
            if not live:
                dead.add(node.name)
            elif len(live) == 1 and len(live) < len([i for i in inputs if not i[2]]):
                source = node.input[live[0]]
                node.op = 'Identity'
                del node.input[:]
                node.input.append(_resolved_input(source, live_port))
                for key in list(node.attr):
                    if key != 'T':
                        del node.attr[key]
            continue
        if any(is_dead(*i) for i in inputs):
            dead.add(node.name)
            continue
        if node.op == 'Identity' and _name(node.input[0]) in constants:
            constants[node.name] = constants[_name(node.input[0])]  # the cond's pred_id
        if node.op == 'Switch' and _name(node.input[1]) in constants:
            live_port[node.name] = 1 if constants[_name(node.input[1])] else 0
    for node in graph_def.node:
        if node.name in live_port:
            data = _resolved_input(node.input[0], live_port)
            node.op = 'Identity'
            del node.input[:]
            node.input.append(data)
        else:
            node.input[:] = [_resolved_input(i, live_port) for i in node.input
                             if not (i.startswith('^') and _name(i) in dead)]
    kept = [node for node in graph_def.node if node.name not in dead]
    del graph_def.node[:]
    graph_def.node.extend(kept)
    return graph_def


def _resolved_input(tensor_name, live_port):
    """A consumer's input name once a Switch has become a one-output Identity."""
    name = _name(tensor_name)
    if name in live_port and not tensor_name.startswith('^'):
        return name
    return tensor_name


def _topological_order(graph_def):
    nodes = {node.name: node for node in graph_def.node}
    pending = {node.name: len({_name(i) for i in node.input if _name(i) in nodes})
               for node in graph_def.node}
    consumers = collections.defaultdict(set)
    for node in graph_def.node:
        for name in {_name(i) for i in node.input if _name(i) in nodes}:
            consumers[name].add(node.name)
    ready = [name for name, count in pending.items() if count == 0]
    order = []
    while ready:
        name = ready.pop()
        order.append(nodes[name])
        for consumer in consumers[name]:
            pending[consumer] -= 1
            if pending[consumer] == 0:
                ready.append(consumer)
    if len(order) != len(nodes):
        raise FacenetError('the model graph has a loop; cannot export it')
    return order


def _name(tensor_name):
    return tensor_name.lstrip('^').split(':')[0]


def _port(tensor_name):
    parts = tensor_name.lstrip('^').split(':')
    return int(parts[1]) if len(parts) > 1 else 0


def training_nodes(graph_def):
    """Names of nodes an exported graph must not hold (switches, variables, assignments).

    The ``images`` input itself is the one placeholder allowed.
    """
    return sorted(node.name for node in graph_def.node
                  if node.op in TRAINING_OPS and node.name != IMAGES_NAME
                  or node.op in graph_optimize.BATCH_NORM_OPS
                  or node.name.split('/')[-1] == model_io.PHASE_TRAIN_NAME)


# -- the graph clients see -------------------------------------------------------------------

def images_placeholder(image_size, float_input=False, name=IMAGES_NAME):
    """``images``: uint8 RGB faces N x S x S x 3, or float32 standardized ones."""
    dtype = tf.float32 if float_input else tf.uint8
    return tf.placeholder(dtype, [None, image_size, image_size, 3], name=name)


def standardized(images, fixed_standardization):
    """Float model input from uint8 faces: prewhitening or ``(x - 127.5) / 128``."""
    return input_pipeline.standardize(tf.cast(images, tf.float32), fixed_standardization)


def run_on_nonempty_batch(function, batch):
    """``function(batch)`` (a tensor or tuple of batch-first tensors) for a batch that may
    hold no images: one zero image is appended and its results dropped, because TensorFlow's
    oneDNN convolutions reject an empty batch."""
    count = tf.shape(batch)[0]
    padding = tf.zeros(tf.concat([[1], tf.shape(batch)[1:]], 0), batch.dtype)
    outputs = function(tf.concat([batch, padding], 0))
    if isinstance(outputs, (tuple, list)):
        return tuple(output[:count] for output in outputs)
    return outputs[:count]


def embed(graph_def, inputs, scope, input_map=None):
    """Import the network in scope ``scope`` reading ``inputs``; return its embeddings."""
    mapping = dict(input_map or {})
    mapping[model_io.INPUT_TENSOR] = inputs
    embeddings, = tf.import_graph_def(graph_def, mapping, [model_io.EMBEDDINGS_NAME + ':0'],
                                      name=scope)
    return embeddings


def serving_graph_def(network, fixed_standardization=False, float_input=False):
    """Frozen GraphDef ``images`` -> ``embeddings`` with the standardization inside."""
    with tf.Graph().as_default() as graph:
        images = images_placeholder(network.image_size, float_input)
        inputs = images if float_input else standardized(images, fixed_standardization)
        tf.identity(embed(network.graph_def, inputs, 'facenet'), name=EMBEDDINGS_NAME)
    return tf.graph_util.extract_sub_graph(graph.as_graph_def(), [EMBEDDINGS_NAME])
