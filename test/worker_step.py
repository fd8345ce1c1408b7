"""One worker of the two-process tests: a softmax training step on a fixed global batch.

Usage: ``python worker_step.py <out.npz> <timeout> [<image> ...]`` with TF_CONFIG set. The
worker feeds its half of the batch, runs one step and saves every variable. On the dummy
model (no images given) worker 1 then exits and worker 0 tries a second step, which must fail
with a message naming worker 1 (saved as ``<out.npz>.message``). Given images (for the input
pipeline, which the Inception-ResNet step reads even when the batch is fed), the step is
Inception-ResNet-v1's (IRV1_ARGV on irv1_batch, in float64), with TensorFlow's graph optimizer
off as in the one-device run it is compared with, and both workers end after it.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'src'))

import models  # noqa: E402
import train_softmax  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402
from toolkit.tf_compat import tf  # noqa: E402
from toolkit.training.distribute import Replicas  # noqa: E402

STEP_ARGS = ['--model_def', 'models.dummy', '--image_size', '8', '--batch_size', '8',
             '--embedding_size', '4', '--center_loss_factor', '0.1',
             '--prelogits_norm_loss_factor', '0.1', '--weight_decay', '0.01', '--optimizer',
             'ADAM', '--moving_average_decay', '0.9', '--sync_batch_norm']
NROF_CLASSES = 3
IRV1_ARGV = ['--model_def', 'models.inception_resnet_v1', '--image_size', '80', '--batch_size',
             '4', '--embedding_size', '16', '--optimizer', 'MOM', '--weight_decay', '1e-4',
             '--sync_batch_norm']


# The Inception-ResNet-v1 checks compute in float64: in float32 a few ReLUs flip with the
# summation order alone, and one device's own step on the same batch in another row order
# moves Repeat_1/block17_1's up-projection by up to 4.4%.
IRV1_DTYPE = 'float64'


def global_batch():
    rng = np.random.RandomState(0)
    return rng.randn(8, 8, 8, 3).astype(np.float32), rng.randint(0, NROF_CLASSES, 8)


def irv1_batch():
    """The global batch of the Inception-ResNet-v1 checks (4 images, 80 x 80)."""
    return (np.random.RandomState(0).randn(4, 80, 80, 3).astype(np.float32),
            np.array([0, 1, 2, 0]))


def main(out_path, timeout, pipeline_paths):
    replicas = Replicas.from_flags(tf_config=os.environ['TF_CONFIG'], timeout=timeout)
    inception = bool(pipeline_paths)
    args = train_softmax.parse_arguments(IRV1_ARGV if inception else STEP_ARGS)
    images, labels = irv1_batch() if inception else global_batch()
    size = len(images) // 2
    half = slice(size * replicas.worker_index, size * replicas.worker_index + size)
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        dtype = IRV1_DTYPE if inception else 'float32'
        g = train_softmax.build_graph(args, models.import_network(args.model_def),
                                      NROF_CLASSES, replicas, dtype)
        feed = {g.train_images: images[half], g.labels: labels[half],
                g.learning_rate_input: 0.1}
        names = [v.op.name for v in tf.global_variables()]
        config = replicas.session_config()
        config.graph_options.rewrite_options.disable_meta_optimizer = inception
        replicas.connect()
        with tf.Session(replicas.server.target, config=config) as sess:
            with replicas.faults_reported():
                sess.run(tf.global_variables_initializer(), options=replicas.run_options())
                if inception:
                    g.train_batches.start(sess, pipeline_paths, [0] * len(pipeline_paths))
                before = sess.run(tf.global_variables())
                loss = sess.run([g.train_op, g.training.total_loss], feed,
                                options=replicas.run_options())[1]
                after = sess.run(tf.global_variables())
            values = {'loss': loss, 'names': np.array(names)}
            values.update({'before/' + n: v for n, v in zip(names, before)})
            values.update({'after/' + n: v for n, v in zip(names, after)})
            np.savez(out_path, **values)
            if inception:
                return
            if replicas.worker_index == 1:
                os._exit(0)
            try:
                with replicas.faults_reported():
                    sess.run(g.train_op, feed, options=replicas.run_options())
                message = 'no error'
            except FacenetError as error:
                message = str(error)
    with open(out_path + '.message', 'w') as handle:
        handle.write(message)


if __name__ == '__main__':
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3:])
