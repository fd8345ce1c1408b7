"""Benchmark: triplet selection on the classic batch (45 people x 40 images, 128-d embeddings).

    python tmp/bench_triplet_selection.py [--people 45 --images 40 --alpha 0.2 --repeats 3]

Times ``toolkit.training.triplets.select_triplets`` (vectorized per person) against its
ceiling on this machine: the N x N squared-distance matrix alone (one matrix product), which
any selection by the classic rule has to compute. Prints the best of ``--repeats`` runs, the
ratio and the machine load (compare figures of one run only). The classic per-pair loop took
2.4x as long as ``select_triplets`` in one run here (``classic_selection`` in
test/test_train_tripletloss.py writes that loop).
"""
import argparse
import os
import sys
import time

import numpy as np

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

from toolkit.training.triplets import select_triplets, squared_distances  # noqa: E402


def best_time(function, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.time()
        result = function()
        times.append(time.time() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--people', type=int, default=45)
    parser.add_argument('--images', type=int, default=40)
    parser.add_argument('--alpha', type=float, default=0.2)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    rng = np.random.RandomState(0)
    # Half the people tight clusters, half spread out, so that the margin rule drops pairs.
    centres = np.repeat(rng.randn(args.people, 128), args.images, axis=0)
    tight = np.repeat(np.arange(args.people) % 2 == 0, args.images)[:, None]
    embeddings = np.where(tight, 4.0, 0.0) * centres + rng.randn(args.people * args.images, 128)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    counts = [args.images] * args.people
    paths = ['img%d' % i for i in range(len(embeddings))]
    print('load average before: %.1f %.1f %.1f' % os.getloadavg())
    ours, (_, nrof_pairs, nrof_ours) = best_time(
        lambda: select_triplets(embeddings, counts, paths, args.alpha, np.random.RandomState(1)),
        args.repeats)
    ceiling, _ = best_time(lambda: squared_distances(embeddings), args.repeats)
    print('%d people x %d images, %d anchor-positive pairs' % (args.people, args.images,
                                                              nrof_pairs))
    print('select_triplets: %.3f s (%d triplets)' % (ours, nrof_ours))
    print('distance matrix alone (ceiling): %.3f s' % ceiling)
    print('ratio ours / ceiling: %.1fx' % (ours / ceiling))
    print('load average after: %.1f %.1f %.1f' % os.getloadavg())
    return 0


if __name__ == '__main__':
    sys.exit(main())
