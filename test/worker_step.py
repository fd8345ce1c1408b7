"""One worker of the two-process tests: softmax training steps on a fixed global batch.

Usage: ``python worker_step.py <out.npz> <timeout>`` with TF_CONFIG set. The worker feeds its
half of the batch, runs one step and saves every variable; then worker 1 exits and worker 0
tries a second step, which must fail with a message naming worker 1 (saved as ``message``).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'src'))

import models  # noqa: E402
import train_softmax  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402
from toolkit.tf_compat import tf  # noqa: E402
from toolkit.training import towers  # noqa: E402
from toolkit.training.distribute import Replicas  # noqa: E402

STEP_ARGS = ['--model_def', 'models.dummy', '--image_size', '8', '--batch_size', '8',
             '--embedding_size', '4', '--center_loss_factor', '0.1',
             '--prelogits_norm_loss_factor', '0.1', '--weight_decay', '0.01', '--optimizer',
             'ADAM', '--moving_average_decay', '0.9', '--sync_batch_norm']
NROF_CLASSES = 3


def global_batch():
    rng = np.random.RandomState(0)
    return rng.randn(8, 8, 8, 3).astype(np.float32), rng.randint(0, NROF_CLASSES, 8)


def main(out_path, timeout):
    replicas = Replicas.from_flags(tf_config=os.environ['TF_CONFIG'], timeout=timeout)
    args = train_softmax.parse_arguments(STEP_ARGS)
    images, labels = global_batch()
    half = slice(4 * replicas.worker_index, 4 * replicas.worker_index + 4)
    with tf.Graph().as_default():
        tf.set_random_seed(1)
        g = train_softmax.build_graph(args, models.import_network('models.dummy'),
                                      NROF_CLASSES, replicas)
        feed = {g.train_images: images[half], g.labels: labels[half],
                g.learning_rate_input: 0.1}
        names = [v.op.name for v in tf.global_variables()]
        with replicas.new_session() as sess:
            with replicas.faults_reported():
                sess.run(tf.global_variables_initializer(), options=replicas.run_options())
                before = sess.run(tf.global_variables())
                loss = sess.run([g.train_op, g.training.total_loss], feed,
                                options=replicas.run_options())[1]
                after = sess.run(tf.global_variables())
            values = {'loss': loss, 'names': np.array(names)}
            values.update({'before/' + n: v for n, v in zip(names, before)})
            values.update({'after/' + n: v for n, v in zip(names, after)})
            np.savez(out_path, **values)
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
    main(sys.argv[1], float(sys.argv[2]))
