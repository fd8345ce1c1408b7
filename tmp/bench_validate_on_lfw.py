"""Benchmark: forward-pass speed of PathEmbedder and the whole validate_on_lfw run.

    python tmp/bench_validate_on_lfw.py [--model DIR_OR_PB] [--nrof_pairs 300]

Without --model, a randomly initialised Inception-ResNet-v1 (128-d) checkpoint folder is
written to a temporary folder first. Images: the shared LFW (250x250 JPEGs, centre-cropped
to --image_size). Prints images/s of the forward pass for batch sizes 1, 32 and 100, and the
wall time of validate_on_lfw.main on the first --nrof_pairs pairs.
"""
import argparse
import contextlib
import json
import os
import sys
import tempfile
import time

import numpy as np

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)
ROOT = os.path.dirname(SRC_DIR)

import validate_on_lfw  # noqa: E402
from models import inception_resnet_v1  # noqa: E402
import models  # noqa: E402
from toolkit.evaluation import lfw  # noqa: E402
from toolkit.inference import path_embedder  # noqa: E402
from toolkit.inference.fast_graph import load_inference_model  # noqa: E402
from toolkit.modelfiles import loading  # noqa: E402
from toolkit.session import new_session  # noqa: E402
from toolkit.tf_compat import tf  # noqa: E402

SHARED_LFW = os.path.join(os.path.dirname(ROOT), 'shared', 'data', 'lfw')


def write_random_model(model_dir, image_size=160, embedding_size=128):
    """A randomly initialised Inception-ResNet-v1 saved as a classic checkpoint folder."""
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, image_size, image_size, 3], name='input')
        phase_train = tf.placeholder_with_default(False, [], name='phase_train')
        prelogits, _ = inception_resnet_v1.inference(images, 1.0, phase_train=phase_train,
                                                     bottleneck_layer_size=embedding_size)
        tf.nn.l2_normalize(prelogits, 1, 1e-10, name='embeddings')
        with new_session() as sess:
            sess.run(tf.global_variables_initializer())
            saver = tf.train.Saver()
            saver.save(sess, os.path.join(model_dir, 'model-random.ckpt'), global_step=1)
    return model_dir


def time_forward_pass(model, paths, batch_sizes, image_size):
    """images/s of the bare network (one numpy batch fed repeatedly) and of PathEmbedder.embed
    (files decoded by the tf.data reader) for each batch size; a warm-up run is excluded."""
    with tf.Graph().as_default():
        with new_session() as sess:
            tensors = load_inference_model(model, image_size=image_size,
                                           networks=models.import_network)
            for batch_size in batch_sizes:
                count = max(batch_size * 3, 96) if batch_size > 1 else 24
                nrof_runs = -(-count // batch_size)
                batch = np.random.RandomState(0).standard_normal(
                    (batch_size, image_size, image_size, 3)).astype(np.float32)
                feed = loading.inference_feed(tensors, batch)
                sess.run(tensors.embeddings, feed)  # warm-up: graph optimisation, caches
                start = time.time()
                for _ in range(nrof_runs):
                    sess.run(tensors.embeddings, feed)
                network_rate = nrof_runs * batch_size / (time.time() - start)
                embedder = path_embedder.PathEmbedder(tensors, image_size, batch_size)
                embedder.embed(sess, paths[:batch_size])
                with reader_waits() as waited:
                    start = time.time()
                    embedder.embed(sess, paths[:nrof_runs * batch_size])
                    seconds = time.time() - start
                print('batch size %3d: network alone %6.1f images/s, files through the '
                      'pipeline %6.1f images/s (%d images; %.1f%% of the time waiting for '
                      'the reader)' % (batch_size, network_rate, nrof_runs * batch_size / seconds,
                                       nrof_runs * batch_size, 100.0 * waited[0] / seconds))
                sys.stdout.flush()


@contextlib.contextmanager
def reader_waits():
    """Add up, in the yielded one-item list, the seconds spent fetching batches from the reader."""
    waited = [0.0]
    next_images = path_embedder._next_images

    def timed(*args):
        start = time.time()
        images = next_images(*args)
        waited[0] += time.time() - start
        return images
    path_embedder._next_images = timed
    try:
        yield waited
    finally:
        path_embedder._next_images = next_images


def time_validate(model, nrof_pairs, image_size, tmp_dir):
    pairs_path = os.path.join(tmp_dir, 'pairs.txt')
    with open(os.path.join(SHARED_LFW, 'pairs.txt')) as source, open(pairs_path, 'w') as target:
        lines = source.read().splitlines()
        # Every k-th pair: pairs.txt alternates blocks of 300 same and 300 different pairs.
        step = max((len(lines) - 1) // nrof_pairs, 1)
        target.write('\n'.join(lines[1::step][:nrof_pairs]) + '\n')
    args = validate_on_lfw.parse_arguments([
        os.path.join(SHARED_LFW, 'images_deepfunneled'), model, '--lfw_pairs', pairs_path,
        '--image_size', str(image_size), '--use_flipped_images', '--subtract_mean',
        '--distance_metric', '1',
        '--results', os.path.join(tmp_dir, 'results.json')])
    start = time.time()
    validate_on_lfw.main(args)
    seconds = time.time() - start
    with open(os.path.join(tmp_dir, 'results.json')) as handle:
        nrof_images = json.load(handle)['nrof_images_embedded']
    print('validate_on_lfw on %d pairs (%d distinct images and their mirrors): %.1f s = '
          '%.1f images/s overall' % (nrof_pairs, nrof_images // 2, seconds, nrof_images / seconds))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default=None)
    parser.add_argument('--nrof_pairs', type=int, default=300)
    parser.add_argument('--image_size', type=int, default=160)
    parser.add_argument('--batch_sizes', type=int, nargs='+', default=[1, 32, 100])
    parser.add_argument('--skip_validate', action='store_true')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        model = args.model or write_random_model(os.path.join(tmp_dir, 'model'), args.image_size)
        pairs = lfw.read_pairs(os.path.join(SHARED_LFW, 'pairs.txt'))
        paths = lfw.find_pair_paths(os.path.join(SHARED_LFW, 'images_deepfunneled'), pairs).paths
        print('cpu cores: %d' % os.cpu_count())
        time_forward_pass(model, paths, args.batch_sizes, args.image_size)
        if not args.skip_validate:
            time_validate(model, args.nrof_pairs, args.image_size, tmp_dir)


if __name__ == '__main__':
    main()
