"""align.detect_face.Network's session runs from several threads: the first run of each set
of inputs goes alone (TensorFlow prepares it once), later runs go side by side."""
import threading
import time

import numpy as np

from align import detect_face
from toolkit.session import new_session
from toolkit.tf_compat import tf


class SlowSession:
    """Stands for the network's session: each run takes 0.2 s; counts runs at once."""

    def __init__(self, session):
        self.graph = session.graph
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def run(self, fetches, feed):
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(0.2)
        with self._lock:
            self.running -= 1
        return [None for _ in fetches]


def _runs_at_once(net, nrof_batches, nrof_threads=2):
    session = net.session = SlowSession(net.session)
    batches = [np.zeros((1, 24, 24, 3), np.float32)] * nrof_batches
    threads = [threading.Thread(target=net.run_pixels, args=(batches,))
               for _ in range(nrof_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return session.most_at_once


def test_first_runs_of_a_set_of_inputs_go_alone_later_ones_side_by_side():
    graph = tf.Graph()
    with graph.as_default(), new_session(graph) as sess:
        net = detect_face.Network(sess, 'rnet', detect_face.rnet_graph,
                                  (None, detect_face.RNET_SIZE, detect_face.RNET_SIZE, 3),
                                  tf.float32)
        real_session = net.session
        assert _runs_at_once(net, 1) == 1  # both threads' first run of one batch
        net.session = real_session
        assert _runs_at_once(net, 1) == 2  # prepared: side by side
        net.session = real_session
        assert _runs_at_once(net, 2) == 1  # two batches at once: new inputs, first runs
