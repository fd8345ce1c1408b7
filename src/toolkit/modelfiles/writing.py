"""Writing models: inference graphs, checkpoint folders in the classic layout, frozen .pb files."""
import os
import shutil
import tempfile

import numpy as np

from toolkit.errors import FacenetError
from toolkit.fileio import atomic_path, current_umask
from toolkit.modelfiles import loading
from toolkit.tf_compat import tf

# Nodes a frozen graph keeps: the classic freeze_graph.py outputs (embeddings, label_batch)
# and the public inputs scripts look up.
FROZEN_OUTPUT_NODES = (loading.EMBEDDINGS_NAME, loading.LABEL_BATCH_NAME,
                       loading.PHASE_TRAIN_NAME, loading.IMAGE_BATCH_NAME, 'batch_size')


def build_export_graph(network, embedding_size, image_size=loading.DEFAULT_IMAGE_SIZE,
                       phase_switch=False):
    """Build ``network``'s (the model module's) inference graph with the classic public
    nodes in the default graph.

    Nodes: ``input`` (float placeholder, N x size x size x 3), ``phase_train`` (bool, default
    False), ``batch_size``, ``embeddings`` (L2-normalised prelogits) and ``label_batch`` (an
    int placeholder passed through, kept because classic scripts look it up).

    Args:
        phase_switch: batch norms switch on ``phase_train`` as in the classic ``.meta`` files.
            Without it the network is plain inference mode, as a frozen graph needs. (With
            variables, TensorFlow's oneDNN rewrite turns a plain inference-mode convolution
            and batch norm into a kernel about 5x slower at batch 1, so checkpoint folders
            keep the switch.)

    Returns:
        A Saver over the network's variables (by their checkpoint names).
    """
    images = tf.placeholder(tf.float32, [None, image_size, image_size, 3],
                            name=loading.INPUT_NAME)
    tf.identity(images, name=loading.IMAGE_BATCH_NAME)
    phase_train = tf.placeholder_with_default(False, [], name=loading.PHASE_TRAIN_NAME)
    tf.placeholder_with_default(tf.constant(0, tf.int32), [], name='batch_size')
    labels = tf.placeholder_with_default(tf.zeros([0], tf.int64), [None], name='labels')
    tf.identity(labels, name=loading.LABEL_BATCH_NAME)
    prelogits = loading.inference_of_size(network, images, network.__name__, 1.0,
                                           phase_train=phase_train if phase_switch else False,
                                           bottleneck_layer_size=embedding_size)
    tf.nn.l2_normalize(prelogits, 1, 1e-10, name=loading.EMBEDDINGS_NAME)
    return tf.train.Saver(tf.global_variables(), max_to_keep=1)


def freeze_session(sess, output_path, output_nodes=FROZEN_OUTPUT_NODES):
    """Freeze the session's graph (variables become constants) into ``output_path``."""
    graph_def = sess.graph.as_graph_def()
    frozen = tf.graph_util.convert_variables_to_constants(sess, graph_def, list(output_nodes))
    write_graph_def(frozen, output_path)
    return len(frozen.node)


def write_graph_def(graph_def, output_path):
    """Serialize a GraphDef to ``output_path`` atomically."""
    with atomic_path(output_path) as tmp_path:
        with open(tmp_path, 'wb') as handle:
            handle.write(graph_def.SerializeToString())


def save_checkpoint_folder(sess, saver, model_dir, model_name, step):
    """Save ``model-<name>.ckpt-<step>`` files, ``model-<name>.meta`` and the state file."""
    checkpoint_path = os.path.join(model_dir, 'model-%s.ckpt' % model_name)
    saver.save(sess, checkpoint_path, global_step=step, write_meta_graph=False)
    saver.export_meta_graph(os.path.join(model_dir, 'model-%s.meta' % model_name))


def publish_folder(build, output_dir):
    """Run ``build(tmp_dir)`` and move the finished folder to ``output_dir`` in one rename.

    An interrupted build leaves no partial model folder behind.
    """
    output_dir = os.path.abspath(os.path.expanduser(output_dir))
    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix='.%s.' % os.path.basename(output_dir), dir=parent)
    try:
        build(tmp_dir)
        _rewrite_checkpoint_state(tmp_dir)
        os.chmod(tmp_dir, 0o777 & ~current_umask())
        if os.path.isdir(output_dir):
            shutil.rmtree(output_dir)
        os.replace(tmp_dir, output_dir)
    finally:
        if os.path.isdir(tmp_dir):
            shutil.rmtree(tmp_dir)


def _rewrite_checkpoint_state(model_dir):
    """Make the ``checkpoint`` state file name its checkpoint relative to the folder."""
    state = tf.train.get_checkpoint_state(model_dir)
    if state and state.model_checkpoint_path:
        name = os.path.basename(state.model_checkpoint_path)
        tf.train.update_checkpoint_state(model_dir, name, [name])


def export_weights(weights, output_dir, model_name, network, embedding_size=128,
                   image_size=loading.DEFAULT_IMAGE_SIZE, step=0, frozen_graph=True):
    """Write named weight arrays as a classic model folder: checkpoint, .meta and frozen .pb.

    Args:
        network: the model module that builds the network (e.g. ``models.inception_resnet_v1``).
        weights: dict of classic variable name -> numpy array (every network variable), or a
            function of the network's ``{name: shape}`` returning that dict (so the caller
            learns the variables without building the network once more).
        output_dir: folder to create (replaced when it exists).
        model_name: e.g. ``20170512-110547``; names the files like the published folders.
        frozen_graph: also write the frozen ``<model_name>.pb``.
    """
    def build(tmp_dir):
        nonlocal weights
        with tf.Graph().as_default():  # checkpoint and .meta, batch norms on phase_train
            saver = build_export_graph(network, embedding_size, image_size, phase_switch=True)
            if callable(weights):
                weights = weights({v.op.name: v.shape.as_list() for v in tf.global_variables()})
            with tf.Session() as sess:
                _load_weights(sess, weights)
                save_checkpoint_folder(sess, saver, tmp_dir, model_name, step)
        if not frozen_graph:
            return
        with tf.Graph().as_default():  # frozen graph, plain inference mode
            build_export_graph(network, embedding_size, image_size)
            with tf.Session() as sess:
                _load_weights(sess, weights)
                freeze_session(sess, os.path.join(tmp_dir, '%s.pb' % model_name))
    publish_folder(build, output_dir)


def _load_weights(sess, weights):
    """Set every global variable of the session's graph from ``weights`` (name -> array).

    (``Variable.load`` runs the session once per variable: 0.2 s each for
    Inception-ResNet-v1 here, against one run for all of them.)
    """
    values = {}
    for variable in tf.global_variables():
        name = variable.op.name
        if name not in weights:
            raise FacenetError('weights for %s are missing' % name)
        values[variable] = weights[name]
    load_variables(sess, values)


def load_variables(sess, values):
    """Set variables to arrays (``{variable: array}``) in one session run: their
    initializers run with the arrays fed as initial values."""
    feed = {variable.initializer.inputs[1]: np.reshape(value, variable.shape.as_list())
            for variable, value in values.items()}
    sess.run([variable.initializer for variable in values], feed)


def frozen_checkpoint_graph_def(ckpt_path, networks, image_size=loading.DEFAULT_IMAGE_SIZE):
    """Rebuild a checkpoint's network for inference and return it frozen (a GraphDef).

    ``networks``: model_def name -> network module (``loading.MODEL_DEFS_BY_SCOPE``).
    """
    with tf.Graph().as_default():
        model_def, embedding_size = loading.checkpoint_network(ckpt_path)
        build_export_graph(networks(model_def), embedding_size, image_size)
        saver = loading.restoring_saver(ckpt_path)
        with tf.Session() as sess:
            loading.restore_variables(sess, saver, ckpt_path)
            return tf.graph_util.convert_variables_to_constants(
                sess, sess.graph.as_graph_def(), list(FROZEN_OUTPUT_NODES))


def freeze_checkpoint(model_dir, output_file, networks, image_size=loading.DEFAULT_IMAGE_SIZE):
    """Freeze the checkpoint in ``model_dir`` (classic or ours) into a ``.pb`` file.

    The network is rebuilt from code for inference and its variables restored by name, so
    classic ``.meta`` files that this TensorFlow cannot import freeze as well.
    Returns the number of nodes written.
    """
    _, ckpt_file = loading.get_model_filenames(os.path.expanduser(model_dir))
    ckpt_path = os.path.join(os.path.expanduser(model_dir), ckpt_file)
    graph_def = frozen_checkpoint_graph_def(ckpt_path, networks, image_size)
    write_graph_def(graph_def, os.path.expanduser(output_file))
    return len(graph_def.node)
