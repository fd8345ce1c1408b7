"""One worker of the check_same_epoch test: the epochs it would resume at, checked against
the other workers' (Replicas.check_same_epoch over the stop vote's all-reduce).

Usage: ``python worker_epochs.py <out.json> <timeout> <epoch> [<epoch> ...]`` with TF_CONFIG
set. For each epoch in turn (every worker checks as often) it saves "same" or the error
message, as a JSON list.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'src'))

from toolkit.errors import FacenetError  # noqa: E402
from toolkit.tf_compat import tf  # noqa: E402
from toolkit.training.distribute import Replicas  # noqa: E402


def main(out_path, timeout, epochs):
    replicas = Replicas.from_flags(tf_config=os.environ['TF_CONFIG'], timeout=timeout)
    outcomes = []
    with tf.Graph().as_default():
        with replicas.scope():
            vote = replicas.for_each_replica(replicas.stop_vote)[0]
        with replicas.new_session() as sess, replicas.faults_reported():
            for epoch in epochs:
                try:
                    replicas.check_same_epoch(sess, vote, epoch)
                    outcomes.append('same')
                except FacenetError as error:
                    outcomes.append(str(error))
    with open(out_path, 'w') as handle:
        json.dump(outcomes, handle)


if __name__ == '__main__':
    main(sys.argv[1], float(sys.argv[2]), [int(epoch) for epoch in sys.argv[3:]])
