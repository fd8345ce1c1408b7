"""Step time of train_softmax on one device, on 2 CPU replicas in one process and on 2 worker
processes (localhost), with the all-reduce share of the step from a trace.

    python tmp/bench_distributed.py [--batch_size 90] [--image_size 160] [--steps 3]
                                    [--nrof_classes 10575]

All three run the same global batch (random images, fed) through Inception-ResNet-v1 with the
classic softmax recipe's losses and ADAM. On a machine with 2 cores no speed-up is possible
(the replicas share the cores); what is measured is the distribution overhead: the extra time
of a step on 2 replicas over one device, which should stay under 15%. The all-reduce share
is the time of the ops that sum the gradients (in one process, MirroredStrategy's
ReductionToOneDevice: AddN over the replicas' gradients; between workers CollectiveReduceV2,
which includes waiting for the other worker), summed over devices, over the step's wall
time, from a full trace of one step, with the bytes those ops output on the device that sums
most (what a replica gets summed per step). The gradient bytes are those of every trained
variable, counted from their shapes.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

import train_softmax  # noqa: E402
import models  # noqa: E402
from toolkit.tf_compat import tf  # noqa: E402
from toolkit.training import towers  # noqa: E402
from toolkit.training.distribute import Replicas  # noqa: E402



def recipe(bench):
    return train_softmax.parse_arguments([
        '--model_def', bench.model_def, '--batch_size', str(bench.batch_size), '--image_size', str(bench.image_size),
        '--optimizer', 'ADAM', '--keep_probability', '0.8', '--weight_decay', '5e-4',
        '--embedding_size', '512', '--prelogits_norm_loss_factor', '5e-4',
        '--center_loss_factor', '0.01'] + ['--sync_batch_norm'] * bench.sync_batch_norm)


def fed_batch(bench, part=slice(None)):
    rng = np.random.RandomState(0)
    images = rng.uniform(-1, 1, (bench.batch_size, bench.image_size, bench.image_size, 3))
    labels = rng.randint(0, bench.nrof_classes, bench.batch_size)
    return images.astype(np.float32)[part], labels[part]


def pipeline_images(folder, size, count=4):
    """A few image files for the input pipeline (the fed batch replaces what it reads, but
    the Inception-ResNet step needs the pipeline started)."""
    paths = []
    for index in range(count):
        paths.append(os.path.join(folder, 'image%d.png' % index))
        Image.fromarray(np.full((size, size, 3), 40 * index, np.uint8)).save(paths[-1])
    return paths


_TRACE_LABEL = re.compile(r'^\S+ = (\w+)\((.*)\)$')
_REPLICA_PART = re.compile(r'(?:^|/)(replica_\d+)(?:/|$)')


def _replica_of(name):
    """The replica an op belongs to, from its name: ``replica_<k>/...`` (its tower) or
    ``.../replica_<k>/...`` (its copy of a variable, e.g. read by its weight decay), else
    the first one."""
    match = _REPLICA_PART.search(name)
    return match.group(1) if match else 'replica_0'


def _output_bytes(node):
    """Bytes of a traced node's outputs, from their shapes and types."""
    total = 0
    for output in node.output:
        description = output.tensor_description
        total += tf.as_dtype(description.dtype).size * int(
            np.prod([dim.size for dim in description.shape.dim]))
    return total


def all_reduce_figures(metadata):
    """The gradient-summing ops of a traced step: ``(seconds summed over devices, bytes and
    ops of the device that sums most)``.

    Read from each node's trace label (``name = Type(input, ...)``), since Grappler renames
    and regroups ops (e.g. ArithmeticOptimizer/AddOpsRewrite_*): the collective all-reduce
    between workers (CollectiveReduce*, NcclAllReduce), and in one process the AddN ops whose
    inputs come from several replicas (MirroredStrategy's ReductionToOneDevice). The bytes
    are those of the ops' outputs: what one device receives summed per step.
    """
    seconds, per_device = 0, []
    for device in metadata.step_stats.dev_stats:
        summed, count = 0, 0
        for node in device.node_stats:
            match = _TRACE_LABEL.match(node.timeline_label)
            if not match:
                continue
            op_type, inputs = match.group(1), match.group(2).split(', ')
            if (op_type.startswith('CollectiveReduce') or op_type == 'NcclAllReduce'
                    or (op_type == 'AddN' and len({_replica_of(name) for name in inputs}) > 1)):
                seconds += node.op_end_rel_micros - node.op_start_rel_micros
                summed += _output_bytes(node)
                count += 1
        per_device.append((summed, count))
    summed, count = max(per_device, default=(0, 0))
    return seconds / 1e6, summed, count


def gradient_bytes(variables):
    """Bytes of the gradients a step sums over the replicas: every trained variable (not the
    batch-norm moving statistics, which batch norm updates in place), float32."""
    return 4 * sum(int(np.prod(v.shape.as_list())) for v in variables
                   if not v.op.name.endswith(('/moving_mean', '/moving_variance')))


def time_steps(bench, replicas, part=slice(None)):
    """Build, warm up, time ``bench.steps`` steps, trace one; returns a dict of figures."""
    args = recipe(bench)
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        start = time.time()
        g = train_softmax.build_graph(args, models.import_network(args.model_def), bench.nrof_classes,
                                      replicas)
        build = time.time() - start
        images, labels = fed_batch(bench, part)
        feed = {g.train_images: images, g.labels: labels, g.learning_rate_input: 0.01}
        # The images stay until the session ends: the pipeline reads them in every step (it
        # would skip missing files forever, as unreadable ones).
        with tempfile.TemporaryDirectory() as folder, replicas.new_session() as sess:
            sess.run(tf.global_variables_initializer(), options=replicas.run_options())
            paths = pipeline_images(folder, bench.image_size)
            g.train_batches.start(sess, paths, [0] * len(paths))
            start = time.time()
            sess.run(g.train_op, feed, options=replicas.run_options())  # warm-up
            first = time.time() - start
            times = []
            for _ in range(bench.steps):
                start = time.time()
                sess.run(g.train_op, feed, options=replicas.run_options())
                times.append(time.time() - start)
            options = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE,
                                    timeout_in_ms=int(replicas.timeout * 1000))
            metadata = tf.RunMetadata()
            start = time.time()
            sess.run(g.train_op, feed, options=options, run_metadata=metadata)
            traced = time.time() - start
            reduced = all_reduce_figures(metadata)
    return {'build': build, 'step': float(np.median(times)), 'steps': times,
            'gradient_bytes': gradient_bytes(g.saved_variables),
            'all_reduce': reduced[0], 'all_reduce_bytes': reduced[1],
            'all_reduce_ops': reduced[2], 'traced_step': traced, 'first_step': first}


def run_workers(bench):
    """Both workers as processes of this script; returns worker 0's figures."""
    sockets = [socket.socket() for _ in range(2)]
    for sock in sockets:
        sock.bind(('127.0.0.1', 0))
    addresses = ['localhost:%d' % sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({'cluster': {'worker': addresses},
                                                     'task': {'type': 'worker', 'index': index}}))
        argv = [sys.executable, __file__, '--worker', '--model_def', bench.model_def,
                '--nrof_classes', str(bench.nrof_classes),
                '--batch_size', str(bench.batch_size),
                '--image_size', str(bench.image_size), '--steps', str(bench.steps)]
        if bench.sync_batch_norm:
            argv.append('--sync_batch_norm')
        processes.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True))
    outputs = [process.communicate(timeout=3600)[0] for process in processes]
    return json.loads(outputs[0].strip().splitlines()[-1])


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch_size', type=int, default=90)
    parser.add_argument('--image_size', type=int, default=160)
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--sync_batch_norm', action='store_true')
    parser.add_argument('--nrof_classes', type=int, default=10575,
                        help='classes of the classifier (CASIA-WebFace: 10575)')
    parser.add_argument('--model_def', default='models.inception_resnet_v1')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    bench = parser.parse_args(argv)
    if bench.worker:
        replicas = Replicas.from_flags(tf_config=os.environ['TF_CONFIG'], timeout=3600)
        half = bench.batch_size // 2
        part = slice(replicas.worker_index * half, (replicas.worker_index + 1) * half)
        print(json.dumps(time_steps(bench, replicas, part)))
        return
    print('load average before: %.1f %.1f %.1f' % os.getloadavg())
    print('%s, batch %d, %dx%d images, %d classes, %d timed steps (median)%s'
          % (bench.model_def, bench.batch_size, bench.image_size, bench.image_size,
             bench.nrof_classes, bench.steps, ', --sync_batch_norm' if bench.sync_batch_norm else ''))
    runs = (('one device', lambda: time_steps(bench, Replicas())),
            ('2 CPU replicas, one process', lambda: time_steps(bench, Replicas(('/cpu:0', '/cpu:1')))),
            ('2 worker processes', lambda: run_workers(bench)))
    results = {}
    for name, run in runs:
        result = results[name] = run()
        base = results['one device']['step']
        print('%-28s step %6.2f s (%.2fx one device; steps %s), all-reduce %.2f s = %4.1f%% of a '
              'traced step of %.2f s, %d ops summing %.1f MB on one device; graph built in '
              '%.1f s, first step %.1f s; load %.1f'
              % (name, result['step'], result['step'] / base,
                 ', '.join('%.2f' % t for t in result['steps']), result['all_reduce'],
                 100.0 * result['all_reduce'] / result['traced_step'], result['traced_step'],
                 result['all_reduce_ops'], result['all_reduce_bytes'] / 1e6, result['build'],
                 result['first_step'], os.getloadavg()[0]), flush=True)
    print('gradient bytes per step (float32, every trained variable): %.1f MB'
          % (results['one device']['gradient_bytes'] / 1e6))
    overhead = results['2 CPU replicas, one process']['step'] / base - 1.0
    print('distribution overhead (2 replicas vs one device, same global batch): %+.1f%% '
          '(target: under 15%%)' % (100.0 * overhead))
    print('load average after: %.1f %.1f %.1f' % os.getloadavg())


if __name__ == '__main__':
    main(sys.argv[1:])
