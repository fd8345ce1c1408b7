"""Inference-time rewrites of frozen graphs that keep their outputs (to float rounding).

- ``fold_batch_norms``: a convolution followed by an inference-mode batch norm becomes one
  convolution with scaled kernels plus a bias.
- ``merge_sibling_convolutions``: 1x1 convolutions reading the same tensor (the first layer
  of each Inception branch) run as one wider convolution whose output is split.
- ``run_batch_halves_in_parallel``: a batch of two or more images is split in halves that
  run through two copies of the network at once (sharing the weight constants).

They work on GraphDefs whose weights are constants (frozen graphs); node names that other
nodes or users refer to are kept.
"""
import collections

import numpy as np

from toolkit.tf_compat import tf

BATCH_NORM_OPS = ('FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3')


class GraphIndex:
    """Index over a GraphDef: nodes by name, consumers, constant values through Identity."""

    def __init__(self, graph_def):
        self.graph_def = graph_def
        self.nodes = {node.name: node for node in graph_def.node}
        self.consumers = collections.defaultdict(list)
        for node in graph_def.node:
            for name in node.input:
                self.consumers[_node_name(name)].append(node)

    def constant(self, name):
        """Value of the Const behind ``name`` (following Identity nodes), or None."""
        node = self.nodes.get(_node_name(name))
        while node is not None and node.op == 'Identity':
            node = self.nodes.get(_node_name(node.input[0]))
        if node is None or node.op != 'Const':
            return None
        return tf.make_ndarray(node.attr['value'].tensor)

    def only_consumer(self, node):
        consumers = self.consumers.get(node.name, [])
        return consumers[0] if len(consumers) == 1 else None


def _node_name(tensor_name):
    return tensor_name.lstrip('^').split(':')[0]


def _const_node(name, value):
    node = tf.NodeDef(name=name, op='Const')
    node.attr['dtype'].type = tf.float32.as_datatype_enum
    node.attr['value'].tensor.CopyFrom(tf.make_tensor_proto(value.astype(np.float32)))
    return node


def _set_const(graph, name, value):
    """Add a Const holding ``value`` (named after ``name``) and return its name."""
    new_name = _node_name(name) + '_folded'
    graph.graph_def.node.extend([_const_node(new_name, value)])
    return new_name


def _inference_batch_norm(graph, node):
    """``(multiplier, bias)`` of an inference batch norm with constant parameters whose
    batch-statistics outputs nobody reads (y = x * multiplier + bias), else None."""
    if node.op not in BATCH_NORM_OPS or node.attr['is_training'].b:
        return None
    values = [graph.constant(name) for name in node.input[1:5]]
    if any(value is None for value in values):
        return None
    if any(graph.consumers.get(node.name + ':%d' % i) for i in range(1, 6)):
        return None  # the batch statistics outputs are used elsewhere
    scale, offset, mean, variance = values
    multiplier = scale / np.sqrt(variance + node.attr['epsilon'].f)
    return multiplier, offset - mean * multiplier


def _become(node, op, inputs, keep_attrs=('T',)):
    """Turn ``node`` into ``op`` on ``inputs`` (same name), keeping only ``keep_attrs``."""
    node.op = op
    del node.input[:]
    node.input.extend(inputs)
    for key in list(node.attr):
        if key not in keep_attrs:
            del node.attr[key]


def fold_batch_norms(graph_def):
    """Fold inference-mode batch norms into the preceding Conv2D; return the new GraphDef."""
    outputs = _output_names(graph_def)
    graph_def = _copy(graph_def)
    graph = GraphIndex(graph_def)
    folded = 0
    for node in list(graph_def.node):
        conv = graph.nodes.get(_node_name(node.input[0])) if node.input else None
        if conv is None or conv.op != 'Conv2D' or graph.only_consumer(conv) is not node:
            continue
        kernel = graph.constant(conv.input[1])
        factors = _inference_batch_norm(graph, node)
        if kernel is None or factors is None:
            continue
        multiplier, bias = factors
        conv.input[1] = _set_const(graph, conv.name + '/kernel', kernel * multiplier)
        bias_name = _set_const(graph, node.name + '/bias', bias)
        _become(node, 'BiasAdd', [node.input[0], bias_name], ('T', 'data_format'))
        folded += 1
    return _prune(graph_def, outputs), folded


def batch_norms_to_multiply_add(graph_def):
    """Inference batch norms with constant parameters as ``x * multiplier + bias``.

    For those ``fold_batch_norms`` leaves (the bottleneck's follows a dense layer and a
    Reshape, not a convolution), so that no batch-norm op remains. Returns the new GraphDef
    and the number rewritten.
    """
    outputs = _output_names(graph_def)
    graph_def = _copy(graph_def)
    graph = GraphIndex(graph_def)
    rewritten = 0
    for node in list(graph_def.node):
        factors = _inference_batch_norm(graph, node)
        if factors is None:
            continue
        multiplier, bias = factors
        mul = tf.NodeDef(name=node.name + '/scaled', op='Mul', device=node.device,
                         input=[node.input[0], _set_const(graph, node.name + '/multiplier',
                                                          multiplier)])
        mul.attr['T'].type = tf.float32.as_datatype_enum
        graph_def.node.extend([mul])
        _become(node, 'AddV2', [mul.name, _set_const(graph, node.name + '/bias', bias)])
        rewritten += 1
    return _prune(graph_def, outputs), rewritten


def fold_output_scales(graph_def):
    """Fold ``constant * BiasAdd(Conv2D)`` (the residual scaling) into kernel and bias."""
    outputs = _output_names(graph_def)
    graph_def = _copy(graph_def)
    graph = GraphIndex(graph_def)
    folded = 0
    for node in list(graph_def.node):
        if node.op != 'Mul':
            continue
        for scale_index in (0, 1):
            scale = graph.constant(node.input[scale_index])
            bias_add = graph.nodes.get(_node_name(node.input[1 - scale_index]))
            if scale is None or scale.size != 1 or bias_add is None or bias_add.op != 'BiasAdd':
                continue
            conv = graph.nodes.get(_node_name(bias_add.input[0]))
            if (conv is None or conv.op != 'Conv2D' or graph.only_consumer(bias_add) is not node
                    or graph.only_consumer(conv) is not bias_add):
                continue
            kernel, bias = graph.constant(conv.input[1]), graph.constant(bias_add.input[1])
            if kernel is None or bias is None:
                continue
            factor = float(scale.reshape(()))
            conv.input[1] = _set_const(graph, conv.name + '/kernel', kernel * factor)
            bias_add.input[1] = _set_const(graph, bias_add.name + '/bias', bias * factor)
            node.CopyFrom(_identity(node.name, bias_add.name, node.device))
            folded += 1
            break
    return _prune(graph_def, outputs), folded


def merge_sibling_convolutions(graph_def):
    """Run 1x1 Conv2D+BiasAdd(+Relu) chains that share their input as one convolution.

    Each original chain's last node is kept, by name, as an Identity of its slice of the
    merged output, so consumers are untouched.
    """
    outputs = _output_names(graph_def)
    graph_def = _copy(graph_def)
    graph = GraphIndex(graph_def)
    groups = collections.defaultdict(list)
    for node in graph_def.node:
        chain = _pointwise_chain(graph, node)
        if chain is not None:
            key = (node.input[0], tuple(node.attr['strides'].list.i), node.attr['padding'].s,
                   chain['relu'] is not None)
            groups[key].append(chain)
    merged = 0
    for (source, _, _, with_relu), chains in groups.items():
        if len(chains) > 1:
            _merge(graph, source, chains, with_relu)
            merged += len(chains)
    return _prune(graph_def, outputs), merged


def _pointwise_chain(graph, conv):
    """``{conv, kernel, bias_add, bias, relu}`` for a 1x1 Conv2D -> BiasAdd (-> Relu) chain."""
    if conv.op != 'Conv2D' or conv.attr['data_format'].s not in (b'NHWC', b''):
        return None
    kernel = graph.constant(conv.input[1])
    if kernel is None or kernel.shape[:2] != (1, 1):
        return None
    if list(conv.attr['dilations'].list.i) not in ([], [1, 1, 1, 1]):
        return None
    bias_add = graph.only_consumer(conv)
    if bias_add is None or bias_add.op != 'BiasAdd':
        return None
    bias = graph.constant(bias_add.input[1])
    if bias is None:
        return None
    relu = graph.only_consumer(bias_add)
    relu = relu if relu is not None and relu.op == 'Relu' else None
    return {'conv': conv, 'kernel': kernel, 'bias_add': bias_add, 'bias': bias, 'relu': relu}


def _merge(graph, source, chains, with_relu):
    first = chains[0]['conv']
    prefix = first.name + '_merged'
    kernel = np.concatenate([c['kernel'] for c in chains], axis=3)
    bias = np.concatenate([c['bias'] for c in chains])
    new_nodes = [_const_node(prefix + '/kernel', kernel), _const_node(prefix + '/bias', bias)]
    conv = tf.NodeDef()
    conv.CopyFrom(first)
    conv.name = prefix + '/Conv2D'
    conv.input[:] = [source, prefix + '/kernel']
    bias_add = tf.NodeDef()
    bias_add.CopyFrom(chains[0]['bias_add'])
    bias_add.name = prefix + '/BiasAdd'
    bias_add.input[:] = [conv.name, prefix + '/bias']
    new_nodes += [conv, bias_add]
    last = bias_add.name
    if with_relu:
        relu = tf.NodeDef()
        relu.CopyFrom(chains[0]['relu'])
        relu.name = prefix + '/Relu'
        relu.input[:] = [last]
        new_nodes.append(relu)
        last = relu.name
    sizes = [c['kernel'].shape[3] for c in chains]
    new_nodes.append(_int_const(prefix + '/sizes', sizes))
    new_nodes.append(_int_const(prefix + '/axis', 3))
    split = tf.NodeDef(name=prefix + '/Split', op='SplitV',
                       input=[last, prefix + '/sizes', prefix + '/axis'])
    split.attr['T'].type = tf.float32.as_datatype_enum
    split.attr['Tlen'].type = tf.int32.as_datatype_enum
    split.attr['num_split'].i = len(chains)
    new_nodes.append(split)
    graph.graph_def.node.extend(new_nodes)
    for index, chain in enumerate(chains):
        end = chain['relu'] if with_relu else chain['bias_add']
        end.CopyFrom(_identity(end.name, '%s:%d' % (split.name, index), end.device))


def _identity(name, source, device=''):
    node = tf.NodeDef(name=name, op='Identity', input=[source], device=device)
    node.attr['T'].type = tf.float32.as_datatype_enum
    return node


def _int_const(name, value):
    node = tf.NodeDef(name=name, op='Const')
    node.attr['dtype'].type = tf.int32.as_datatype_enum
    node.attr['value'].tensor.CopyFrom(tf.make_tensor_proto(np.asarray(value, np.int32)))
    return node


def _copy(graph_def):
    copy = tf.GraphDef()
    copy.CopyFrom(graph_def)
    return copy


def remove_identities(graph_def):
    """Connect the consumers of inner Identity nodes to their inputs.

    Identity nodes left by freezing (``.../read``) and by the rewrites above can stand
    between ops that TensorFlow would otherwise fuse (convolution, bias, residual add, relu).
    Identities that are graph outputs keep their names. Returns the new GraphDef and the
    number of inputs reconnected.
    """
    outputs = _output_names(graph_def)
    graph_def = _copy(graph_def)
    kept = set(outputs)
    forward = {node.name: node.input[0] for node in graph_def.node
               if node.op == 'Identity' and node.name not in kept and len(node.input) == 1
               and not node.input[0].startswith('^')}

    def resolve(tensor_name):
        seen = 0
        while not tensor_name.startswith('^') and _node_name(tensor_name) in forward \
                and tensor_name.split(':')[-1] in (tensor_name, '0') and seen < len(forward):
            tensor_name = forward[_node_name(tensor_name)]
            seen += 1
        return tensor_name

    removed = 0
    for node in graph_def.node:
        for index, name in enumerate(node.input):
            target = resolve(name)
            if target != name:
                node.input[index] = target
                removed += 1
    return _prune(graph_def, outputs), removed


def _output_names(graph_def):
    """Nodes nothing consumes (the graph's outputs, and unused inputs)."""
    graph = GraphIndex(graph_def)
    return [node.name for node in graph_def.node
            if not graph.consumers.get(node.name) and node.op != 'Const']


def _prune(graph_def, outputs):
    """Keep only ``outputs`` and what they depend on (drops old kernels, batch-norm ops)."""
    graph = GraphIndex(graph_def)
    keep = set()
    stack = list(outputs)
    while stack:
        name = stack.pop()
        if name in keep or name not in graph.nodes:
            continue
        keep.add(name)
        stack.extend(_node_name(i) for i in graph.nodes[name].input)
    pruned = tf.GraphDef()
    pruned.versions.CopyFrom(graph_def.versions)
    pruned.library.CopyFrom(graph_def.library)
    pruned.node.extend(node for node in graph_def.node if node.name in keep)
    return pruned


# Ops that treat each image of the batch on its own (with the conditions checked in
# _per_image_op); a network made only of these can run its batch in independent parts.
# (A Const lies downstream of the input only through a control dependency.)
PER_IMAGE_OPS = frozenset([
    'Const', 'Identity', 'Shape', 'Reshape', 'Conv2D', 'BiasAdd', 'MatMul', 'MaxPool', 'AvgPool',
    'ConcatV2', 'SplitV', 'Split', 'Sum', 'Mean', 'Max', 'Min', 'Relu', 'Relu6', 'Add', 'AddV2',
    'Sub', 'Mul', 'RealDiv', 'Maximum', 'Minimum', 'Square', 'Sqrt', 'Rsqrt',
    'FusedBatchNorm', 'FusedBatchNormV2', 'FusedBatchNormV3'])
# Which input of these ops holds the axes they reduce, join or split along.
AXIS_INPUT = {'Sum': 1, 'Mean': 1, 'Max': 1, 'Min': 1, 'ConcatV2': -1, 'SplitV': 2, 'Split': 0}
HALVES_SCOPE = 'batch_halves'
SECOND_HALF_SCOPE = 'second_half'


def run_batch_halves_in_parallel(graph_def, input_name='input', output_name='embeddings'):
    """Run the two halves of a batch through two copies of the network at the same time.

    On a few CPU cores, two half-batch convolutions running side by side keep the cores
    busier than one full-batch convolution split over threads. Batches of one image take
    the first copy alone. The copies share the weight constants. The graph is left as it
    is unless every op between ``input`` and ``output_name`` treats images independently.
    Returns the new GraphDef and the number of ops copied.
    """
    graph = GraphIndex(graph_def)
    if input_name not in graph.nodes or output_name not in graph.nodes:
        return graph_def, 0
    per_image = _downstream(graph, input_name)
    if output_name not in per_image or not all(_per_image_op(graph, graph.nodes[name], per_image)
                                               for name in per_image):
        return graph_def, 0
    first_output = output_name + '_first_half'
    second_prefix = SECOND_HALF_SCOPE + '/'
    glue, first_input, second_input = _halves_glue(input_name, first_output,
                                                   second_prefix + first_output, output_name)
    new_graph_def = _copy(graph_def)
    del new_graph_def.node[:]
    new_graph_def.node.extend(node for node in graph_def.node if node.name not in per_image)
    for prefix, image_input in (('', first_input), (second_prefix, second_input)):
        names = {name: prefix + (first_output if name == output_name else name)
                 for name in per_image}
        for node in graph_def.node:
            if node.name in per_image:
                copy = new_graph_def.node.add()
                copy.CopyFrom(node)
                copy.name = names[node.name]
                copy.input[:] = [_reconnect(name, input_name, image_input, names)
                                 for name in node.input]
    new_graph_def.node.extend(glue)
    return new_graph_def, len(per_image)


def _reconnect(tensor_name, input_name, image_input, names):
    """``tensor_name`` as one copy of the network reads it (renamed node, or its image input)."""
    control = '^' if tensor_name.startswith('^') else ''
    name, _, port = tensor_name.lstrip('^').partition(':')
    if name == input_name:
        return '^' + _node_name(image_input) if control else image_input
    return control + names.get(name, name) + (':' + port if port else '')


def _downstream(graph, source):
    """Names of the nodes that depend on node ``source`` (not itself)."""
    found = set()
    stack = [source]
    while stack:
        for consumer in graph.consumers.get(stack.pop(), []):
            if consumer.name not in found:
                found.add(consumer.name)
                stack.append(consumer.name)
    return found


def _per_image_op(graph, node, per_image):
    """True when ``node`` computes each image's output from that image alone."""
    if node.op not in PER_IMAGE_OPS:
        return False
    if node.op.startswith('FusedBatchNorm'):  # is_training defaults to True when left out
        return 'is_training' in node.attr and not node.attr['is_training'].b
    if node.op in AXIS_INPUT:
        axes = graph.constant(node.input[AXIS_INPUT[node.op]])
        # Negative axes count from the end and may name the batch axis: refused too.
        return axes is not None and all(axis >= 1 for axis in np.atleast_1d(axes).tolist())
    if node.op == 'Reshape':
        shape = graph.constant(node.input[1])
        if shape is not None:
            return shape.size > 0 and int(shape.flat[0]) == -1
        return _node_name(node.input[1]) in per_image  # a shape read from a per-image tensor
    if node.op == 'MatMul':
        return (not node.attr['transpose_a'].b and _node_name(node.input[0]) in per_image
                and _node_name(node.input[1]) not in per_image)
    return True


def _halves_glue(input_name, first_output, second_output, output_name):
    """Nodes that split the input in halves and join the two copies' outputs.

    Returns the NodeDefs, the tensor the first copy reads and the one the second reads.
    The first copy reads the whole batch when it holds fewer than two images; the second
    copy then gets no input and does not run.
    """
    with tf.Graph().as_default() as glue_graph:
        images = tf.placeholder(tf.float32, name=input_name)
        first_out = tf.placeholder(tf.float32, name=first_output)
        second_out = tf.placeholder(tf.float32, name=second_output)
        with tf.name_scope(HALVES_SCOPE):
            size = tf.shape(images)[0]
            split = tf.greater_equal(size, 2)
            whole, to_split = tf.raw_ops.Switch(data=images, pred=split)
            first, second = tf.split(to_split, tf.stack([size - size // 2, size // 2]), num=2)
            first_input = tf.raw_ops.Merge(inputs=[whole, first]).output
            single, double = tf.raw_ops.Switch(data=first_out, pred=split)
            joined = tf.concat([double, second_out], 0)
        tf.raw_ops.Merge(inputs=[single, joined], name=output_name)
    stand_ins = {images.op.name, first_out.op.name, second_out.op.name}
    nodes = [node for node in glue_graph.as_graph_def().node if node.name not in stand_ins]
    return nodes, first_input.name, second.name


def optimize_for_inference(graph_def):
    """Apply every rewrite; return the new GraphDef."""
    graph_def, _ = fold_batch_norms(graph_def)
    graph_def, _ = fold_output_scales(graph_def)
    graph_def, _ = merge_sibling_convolutions(graph_def)
    graph_def, _ = remove_identities(graph_def)
    graph_def, _ = run_batch_halves_in_parallel(graph_def)
    return graph_def
