"""Cost of the training scripts' image check (every image decoded once by the pipeline's
decoder, toolkit.data.input_pipeline.undecodable) against one pass of the training input
pipeline itself (decode, crop, standardize, batch) over the same files, in the same run.

    python tmp/bench_image_check.py ../shared/data/lfw/images_deepfunneled [--image_size 160]
"""
import argparse
import os
import sys
import time

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

from toolkit import cli, session  # noqa: E402
from toolkit.cli.arguments import positive_int  # noqa: E402
from toolkit.data.folders import get_dataset, get_image_paths_and_labels  # noqa: E402
from toolkit.data.input_pipeline import Augmentation, ImageBatches, undecodable  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402
from toolkit.tf_compat import tf  # noqa: E402


def pipeline_pass_seconds(paths, image_size, nrof_threads, batch_size=90):
    """Seconds for one pass of the training pipeline (no network) over ``paths``."""
    with tf.Graph().as_default():
        batches = ImageBatches(image_size, batch_size, Augmentation(random_flip=True),
                               nrof_threads, skip_unreadable=True)
        with tf.Session() as sess:
            start = time.time()
            batches.start(sess, paths)
            for _ in batches.batches(sess):
                pass
            return time.time() - start


def main(args):
    paths, _ = get_image_paths_and_labels(get_dataset(args.dir))
    if not paths:
        raise FacenetError('no images found in %s' % args.dir)
    threads = session.usable_cores()
    tf.constant(0)  # TensorFlow's import is not part of either figure
    print('%d images, %d threads, load %.1f %.1f %.1f' % ((len(paths), threads)
                                                          + os.getloadavg()))
    for _ in range(args.repeats):
        start = time.time()
        failed = undecodable(paths, threads)
        check = time.time() - start
        epoch = pipeline_pass_seconds(paths, args.image_size, threads)
        print('check %.2f s (%.3f ms/image, %d undecodable); one pipeline pass %.2f s; '
              'ratio %.2f; load %.1f' % (check, 1000 * check / len(paths), len(failed), epoch,
                                         check / epoch, os.getloadavg()[0]))
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('dir', type=str, help='A training folder (one sub-folder per class).')
    parser.add_argument('--image_size', type=positive_int, default=160)
    parser.add_argument('--repeats', type=positive_int, default=2)
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
