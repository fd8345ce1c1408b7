"""Benchmark: triplet selection on the classic batch (45 people x 40 images, 128-d embeddings).

    python tmp/bench_triplet_selection.py [--people 45 --images 40 --alpha 0.2 --repeats 3]

Times ``toolkit.training.triplets.select_triplets`` (vectorized per person) against the
classic rule written as the classic script looped (one distance row per anchor, one
``np.where`` per anchor-positive pair), on the same embeddings, and checks that both find a
negative for the same number of pairs. Prints the best of ``--repeats`` runs, the ratio and
the machine load (compare figures of one run only).
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

from toolkit.training.triplets import select_triplets  # noqa: E402


def classic_loop(embeddings, nrof_images_per_class, alpha, rng):
    """The classic selection loop; returns the number of triplets it forms."""
    nrof_triplets = 0
    start = 0
    for count in nrof_images_per_class:
        for j in range(1, count):
            a = start + j - 1
            neg_dists = np.sum(np.square(embeddings[a] - embeddings), 1)
            for pair in range(j, count):
                p = start + pair
                pos_dist = np.sum(np.square(embeddings[a] - embeddings[p]))
                neg_dists[start:start + count] = np.nan
                with np.errstate(invalid='ignore'):
                    candidates = np.where(neg_dists - pos_dist < alpha)[0]
                if len(candidates):
                    rng.randint(len(candidates))
                    nrof_triplets += 1
        start += count
    return nrof_triplets


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
    classic, nrof_classic = best_time(
        lambda: classic_loop(embeddings, counts, args.alpha, np.random.RandomState(1)),
        args.repeats)
    print('%d people x %d images, %d anchor-positive pairs' % (args.people, args.images,
                                                              nrof_pairs))
    print('select_triplets: %.3f s (%d triplets)' % (ours, nrof_ours))
    print('classic loop:    %.3f s (%d triplets)' % (classic, nrof_classic))
    print('ratio classic / ours: %.1fx' % (classic / ours))
    print('load average after: %.1f %.1f %.1f' % os.getloadavg())
    if nrof_ours != nrof_classic:
        print('error: the two selections disagree', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
