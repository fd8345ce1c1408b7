"""Frozen Inception-ResNet-v1 graphs back into trainable weights: the inverse of freezing.

A frozen graph keeps each variable's value as a constant of the same name, so most weights
are read by name. Graphs written by TensorFlow's ``optimize_for_inference`` (such as the
published 20180408-102900 ``.pb``) have also had their batch norms folded: the convolution
kernel of a layer was multiplied by ``1 / sqrt(moving_variance + epsilon)`` per output channel,
and the batch norm replaced by a bias ``beta - moving_mean / sqrt(moving_variance + epsilon)``
(a ``BiasAdd`` after the convolution, in place of the batch norm node). The original moving
statistics cannot be recovered from these two numbers, so a folded layer is unfolded as:

- ``weights``: the folded kernel, as stored;
- ``BatchNorm/moving_mean`` = 0 and ``BatchNorm/moving_variance`` = 1 - epsilon, which make
  the inference-mode batch norm ``(x - 0) / sqrt(1 - epsilon + epsilon) + beta = x + beta``;
- ``BatchNorm/beta``: the folded bias.

The network then computes what the frozen graph computes (inference mode). In training mode a
batch norm normalizes with the batch's own statistics: the folded kernel's per-channel scale
cancels out there, but the mean the folded bias already subtracted is subtracted again, so
training-mode activations differ from the original network's until training adapts, and the
moving statistics drift from (0, 1) toward the batch statistics of the folded kernels.
"""
import collections

import numpy as np

from toolkit.errors import FacenetError
from toolkit.inference.graph_optimize import GraphIndex
from toolkit.modelfiles import loading, metadata, writing
from toolkit.nets.layers import BATCH_NORM_EPSILON
from toolkit.tf_compat import tf

BATCH_NORM_SUFFIXES = ('BatchNorm/beta', 'BatchNorm/moving_mean', 'BatchNorm/moving_variance')
# The layer ops that a folded batch norm's bias follows.
LAYER_OPS = ('Conv2D', 'MatMul')
BOTTLENECK_WEIGHTS = 'InceptionResnetV1/Bottleneck/weights'

Unfrozen = collections.namedtuple('Unfrozen', ['weights', 'missing', 'nrof_unfolded'])


def layer_kernel(graph, name):
    """The kernel a layer's Conv2D/MatMul reads when ``name`` is ``<layer>/weights``, else
    None (a folding rewrite may have given the scaled kernel another name).

    Args:
        graph: a graph_optimize.GraphIndex.
    """
    if not name.endswith('/weights'):
        return None
    for op in LAYER_OPS:
        layer = graph.nodes.get('%s/%s' % (name[:-len('/weights')], op))
        if layer is not None and layer.op == op and len(layer.input) == 2:
            return graph.constant(layer.input[1])
    return None


def folded_bias(graph, scope):
    """The bias added right after layer ``scope``'s Conv2D/MatMul, or None."""
    for op in LAYER_OPS:
        layer = graph.nodes.get('%s/%s' % (scope, op))
        if layer is None or layer.op != op:
            continue
        for consumer in graph.consumers.get(layer.name, []):
            if consumer.op in ('BiasAdd', 'Add', 'AddV2'):
                others = [name for name in consumer.input if name.split(':')[0] != layer.name]
                bias = graph.constant(others[0]) if len(others) == 1 else None
                if bias is not None and bias.ndim == 1:
                    return bias
    return None


def unfreeze_weights(graph_def, variable_shapes, bn_epsilon=BATCH_NORM_EPSILON):
    """The values of ``variable_shapes``' variables as stored in a frozen graph.

    Args:
        graph_def: the frozen GraphDef.
        variable_shapes: ``{name: shape}`` of the variables wanted.
        bn_epsilon: the batch-norm epsilon of the network the weights are for.

    Returns:
        Unfrozen(weights {name: float32 array}, missing names, number of unfolded batch norms).

    Raises:
        FacenetError: a constant has another shape than its variable.
    """
    graph = GraphIndex(graph_def)
    weights, missing, unfolded = {}, [], set()
    for name, shape in variable_shapes.items():
        value = layer_kernel(graph, name)
        if value is None:
            value = graph.constant(name)
        if value is None:
            value = _unfolded_batch_norm_value(graph, name, shape, bn_epsilon)
            if value is not None:
                unfolded.add(name.rsplit('/BatchNorm/', 1)[0])
        if value is None:
            missing.append(name)
            continue
        if list(value.shape) != list(shape):
            raise FacenetError('the frozen graph holds %s with shape %s, the network needs %s'
                               % (name, list(value.shape), list(shape)))
        weights[name] = value.astype(np.float32)
    return Unfrozen(weights, missing, len(unfolded))


def _unfolded_batch_norm_value(graph, name, shape, bn_epsilon):
    """A folded batch norm's variable (see the module docstring), or None."""
    suffix = next((s for s in BATCH_NORM_SUFFIXES if name.endswith('/' + s)), None)
    if suffix is None:
        return None
    bias = folded_bias(graph, name[:-len(suffix) - 1])
    if bias is None or list(bias.shape) != list(shape):
        return None
    if suffix == 'BatchNorm/beta':
        return bias
    if suffix == 'BatchNorm/moving_mean':
        return np.zeros(shape, np.float32)
    return np.full(shape, 1.0 - bn_epsilon, np.float32)


def embedding_size_of(graph_def):
    """The embedding size of a frozen Inception-ResNet-v1 graph (its bottleneck width).

    Raises:
        FacenetError: the graph is not an Inception-ResNet-v1 FaceNet graph.
    """
    bottleneck = GraphIndex(graph_def).constant(BOTTLENECK_WEIGHTS)
    if bottleneck is None or bottleneck.ndim != 2:
        raise FacenetError('not a frozen Inception-ResNet-v1 FaceNet graph (no %s constant)'
                           % BOTTLENECK_WEIGHTS)
    return int(bottleneck.shape[1])


def unfreeze_graph(pb_path, output_dir, model_name, image_size=loading.DEFAULT_IMAGE_SIZE, *,
                   network):
    """Write a frozen Inception-ResNet-v1 ``.pb`` as a classic checkpoint folder.

    ``network`` is the module that builds Inception-ResNet-v1 (``models.inception_resnet_v1``):
    the graph's constants are matched to the variables its ``inference`` creates.

    The folder gets ``checkpoint``, ``model-<name>.meta`` and ``model-<name>.ckpt-0.*``, written
    under a temporary name and renamed when complete, and the graph's metadata file (input
    standardization) when it has one.

    Returns:
        Unfrozen (its ``missing`` is empty).

    Raises:
        FacenetError: the file is not a frozen graph of this network.
    """
    graph_def = loading.read_graph_def(pb_path, lift_batch_size=False)  # only constants read
    embedding_size = embedding_size_of(graph_def)
    results = []

    def weights_for(variable_shapes):
        unfrozen = unfreeze_weights(graph_def, variable_shapes, BATCH_NORM_EPSILON)
        if unfrozen.missing:
            raise FacenetError('%s lacks %d weights of %s, e.g. %s'
                               % (pb_path, len(unfrozen.missing), network.__name__,
                                  ', '.join(unfrozen.missing[:3])))
        results.append(unfrozen)
        return unfrozen.weights

    writing.export_weights(weights_for, output_dir, model_name, network, embedding_size,
                           image_size, frozen_graph=False)
    known = metadata.read_model_metadata(pb_path)
    if known is not None:  # the graph's input standardization carries over
        metadata.write_model_metadata(output_dir, known.input_standardization, embedding_size)
    return results[0]


def embeddings_of(model, images):
    """Embeddings of standardized ``images`` by ``model`` (as ``loading.load_model`` loads it)."""
    with tf.Graph().as_default():
        with tf.Session() as sess:
            loading.load_model(model, session=sess)
            tensors = loading.get_model_tensors()
            return sess.run(tensors.embeddings, loading.inference_feed(tensors, images))


def max_embedding_difference(pb_path, model_dir, images):
    """Largest absolute difference between the embeddings of a frozen graph and of the
    checkpoint folder unfrozen from it, on standardized ``images`` (N x H x W x 3)."""
    return float(np.max(np.abs(embeddings_of(pb_path, images) - embeddings_of(model_dir, images))))
