"""Time a forward pass against a full training step of train_softmax's graph on CPU.

Batch 90 of 160 x 160 images through Inception-ResNet-v1, in one process: the forward pass
(of the inference tower in inference mode, and of the training tower) and the complete
training step (forward, backward, optimizer, moving averages, center-loss update) of the
graph train_softmax builds, with the images fed so that only the network is timed; then the
same step reading its batches from the tf.data pipeline (JPEG decode, random crop and flip),
and the pipeline alone. The same step is also timed on a second copy of the graph whose
convolutions keep TensorFlow's built-in filter gradient, the peer of toolkit.nets.conv_gradients'
matrix-product gradient, and on a third whose training tower switches on phase_train (a
tf.cond in every layer), the peer of the static training tower.
Measurements alternate between the kinds so that load from other processes hits all alike;
the median of --repeats runs is reported. Importing train_softmax turns TensorFlow's oneDNN
kernels on, as the training scripts do (TF_ENABLE_ONEDNN_OPTS=0 compares without them).

    python tmp/bench_train_step.py [--repeats 3] [--nrof_classes 1000]
"""
import argparse
import os
import sys
import tempfile
import time
from unittest import mock

import numpy as np
from PIL import Image

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

import train_softmax  # noqa: E402
import models  # noqa: E402
from toolkit.nets import conv_gradients  # noqa: E402
from toolkit.tf_compat import tf  # noqa: E402
from toolkit.training import towers  # noqa: E402


def make_jpeg_folders(root, nrof_classes, nrof_images, size=182):
    rng = np.random.RandomState(0)
    paths, labels = [], []
    for c in range(nrof_classes):
        folder = os.path.join(root, 'c%04d' % c)
        os.makedirs(folder)
        for i in range(nrof_images):
            path = os.path.join(folder, '%d.jpg' % i)
            Image.fromarray(rng.randint(0, 255, (size, size, 3), dtype=np.uint8)).save(path)
            paths.append(path)
            labels.append(c)
    return paths, labels


def timed(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.time()
        function()
        times.append(time.time() - start)
    return times


def profile_step(sess, fetch, feed_dict, top=15):
    """Run once with a full trace and print the op types taking the most time."""
    options = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)
    metadata = tf.RunMetadata()
    sess.run(fetch, feed_dict, options=options, run_metadata=metadata)
    by_type = {}
    by_scope = {}
    for device in metadata.step_stats.dev_stats:
        for node in device.node_stats:
            micros = node.op_end_rel_micros - node.op_start_rel_micros
            op_type = node.timeline_label.split('(')[0].split('=')[-1].strip() or node.node_name
            by_type[op_type] = by_type.get(op_type, 0) + micros
            scope = node.node_name.split('/')[0]
            by_scope[scope] = by_scope.get(scope, 0) + micros
    total = sum(by_type.values())
    print('op time (summed over threads): %.2f s' % (total / 1e6))
    for title, table in (('by op type', by_type), ('by top-level scope', by_scope)):
        print(title + ':')
        for name, micros in sorted(table.items(), key=lambda item: -item[1])[:top]:
            print('  %-40s %6.2f s  %5.1f%%' % (name, micros / 1e6, 100.0 * micros / total))


def switched_training_tower(network, images, options):
    """Peer of training.build_training_tower: a tower whose layers switch on ``phase_train``
    (a tf.cond per batch norm and dropout), as when one classic tower does all the work."""
    phase_train = tf.get_default_graph().get_tensor_by_name('phase_train:0')
    return towers.build_network(network, images, options, phase_train, reuse=True)


def start_session(args, network, nrof_classes, paths, labels, builtin_filter_gradients=False,
                  switched_tower=False):
    """Build train_softmax's graph in a new graph and session, its input pipeline started.

    With ``builtin_filter_gradients`` every convolution keeps TensorFlow's own filter
    gradient (the peer of toolkit.nets.conv_gradients' matrix-product one); with
    ``switched_tower`` the training tower switches on ``phase_train`` (feed it True).
    """
    graph = tf.Graph()
    use_matmul = (lambda *layer: False) if builtin_filter_gradients else conv_gradients._use_matmul_gradient
    tower = switched_training_tower if switched_tower else towers.build_training_tower
    with graph.as_default(), mock.patch.object(conv_gradients, '_use_matmul_gradient', use_matmul), \
            mock.patch.object(towers, 'build_training_tower', tower):
        start = time.time()
        g = train_softmax.build_graph(args, network, nrof_classes)
        print('graph built in %.1f s (%d ops)' % (time.time() - start, len(graph.get_operations())))
        sess = tf.Session(graph=graph)
        sess.run(tf.global_variables_initializer())
        g.train_batches.start(sess, paths, labels)
    return sess, g


def fed_batch(g, images, labels):
    """Feed of one training step on a fixed batch (phase_train for a switched tower)."""
    return {g.train_images: images, g.labels: labels, g.learning_rate_input: 0.01,
            g.phase_train: True}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--batch_size', type=int, default=90)
    parser.add_argument('--nrof_classes', type=int, default=1000)
    parser.add_argument('--optimizer', default='ADAM')
    parser.add_argument('--profile', action='store_true',
                        help='Also trace one training step and print where its time goes.')
    bench = parser.parse_args(argv)

    args = train_softmax.parse_arguments([
        '--batch_size', str(bench.batch_size), '--image_size', '160', '--optimizer', bench.optimizer,
        '--keep_probability', '0.8', '--weight_decay', '5e-4', '--embedding_size', '512',
        '--prelogits_norm_loss_factor', '5e-4', '--center_loss_factor', '0.01',
        '--random_crop', '--random_flip', '--use_fixed_image_standardization'])
    network = models.import_network(args.model_def)
    rng = np.random.RandomState(1)
    images = rng.uniform(-1, 1, (bench.batch_size, 160, 160, 3)).astype(np.float32)
    labels = rng.randint(0, bench.nrof_classes, bench.batch_size)
    with tempfile.TemporaryDirectory() as folder:
        paths, path_labels = make_jpeg_folders(folder, 10, 20)
        sess, g = start_session(args, network, bench.nrof_classes, paths, path_labels)
        peer_sess, peer = start_session(args, network, bench.nrof_classes, paths, path_labels,
                                        builtin_filter_gradients=True)
        switched_sess, switched = start_session(args, network, bench.nrof_classes, paths,
                                                path_labels, switched_tower=True)
        fed, peer_fed, switched_fed = (fed_batch(graph, images, labels)
                                       for graph in (g, peer, switched))
        kinds = {
            'forward (inference mode)': lambda: sess.run(g.inference.prelogits, {g.inference.images: images, g.phase_train: False}),
            'forward (training mode)': lambda: sess.run(g.train_prelogits, {g.train_images: images}),
            'training step (fed batch)': lambda: sess.run(g.train_op, fed),
            'step, built-in filter gradients': lambda: peer_sess.run(peer.train_op, peer_fed),
            'step, switched training tower': lambda: switched_sess.run(switched.train_op, switched_fed),
            'training step (tf.data pipeline)': lambda: sess.run(g.train_op, {g.learning_rate_input: 0.01}),
            'input pipeline alone (one batch)': lambda: sess.run(g.train_batches.images),
        }
        for run in kinds.values():  # warm-up
            run()
        results = {name: [] for name in kinds}
        for _ in range(bench.repeats):
            for name, run in kinds.items():
                results[name] += timed(run, 1)
        if bench.profile:
            profile_step(sess, g.train_op, fed)
        sess.close()
        peer_sess.close()
        switched_sess.close()
    medians = {name: float(np.median(values)) for name, values in results.items()}
    for name, value in medians.items():
        print('%-36s %7.2f s  (runs: %s)' % (name, value, ', '.join('%.2f' % v for v in results[name])))
    forward = medians['forward (inference mode)']
    print('training step / forward pass (inference mode): %.2fx' % (medians['training step (fed batch)'] / forward))
    print('training step / forward pass (training mode):  %.2fx'
          % (medians['training step (fed batch)'] / medians['forward (training mode)']))
    print('training step (tf.data pipeline) / forward pass (inference mode): %.2fx'
          % (medians['training step (tf.data pipeline)'] / forward))
    print('step with built-in filter gradients / forward pass (inference mode): %.2fx'
          % (medians['step, built-in filter gradients'] / forward))
    print('matmul filter gradients speed-up of the step: %.2fx'
          % (medians['step, built-in filter gradients'] / medians['training step (fed batch)']))
    print('step with a switched training tower / forward pass (inference mode): %.2fx'
          % (medians['step, switched training tower'] / forward))
    print('static training tower speed-up of the step: %.2fx'
          % (medians['step, switched training tower'] / medians['training step (fed batch)']))
    print('pipeline step / fed step: %.2fx'
          % (medians['training step (tf.data pipeline)'] / medians['training step (fed batch)']))


if __name__ == '__main__':
    main(sys.argv[1:])
