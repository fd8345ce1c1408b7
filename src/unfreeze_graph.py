"""Turn a frozen Inception-ResNet-v1 graph into a classic checkpoint folder (freeze_graph's inverse).

    python src/unfreeze_graph.py models/20180408-102900/20180408-102900.pb ~/models/facenet/20180408-102900-ckpt

Writes ``checkpoint``, ``model-<name>.meta`` and ``model-<name>.ckpt-0.*`` into OUTPUT_DIR, so
the model can be fine-tuned (``train_softmax.py --pretrained_model OUTPUT_DIR``) or loaded like
any checkpoint folder. Batch norms folded into the convolutions (as in the published
20180408-102900 graph) are unfolded so the network computes what the graph computes; see
``toolkit.modelfiles.unfreezing`` and the README for what that means for fine-tuning. The
embeddings of a few random images by the new folder are compared with the graph's.
"""
import argparse
import os

import numpy as np

from models import inception_resnet_v1
from toolkit import cli
from toolkit.cli import arguments
from toolkit.errors import FacenetError
from toolkit.modelfiles import loading, unfreezing

MAX_CHECK_DIFFERENCE = 1e-5


def main(args):
    kind, pb_path = loading.resolve_model(args.pb)
    if kind != 'graph':
        raise FacenetError('%s is not a frozen graph (.pb file, or a folder holding one)'
                           % args.pb)
    name = args.model_name or os.path.basename(os.path.normpath(args.output_dir))
    unfrozen = unfreezing.unfreeze_graph(pb_path, args.output_dir, name, args.image_size,
                                         network=inception_resnet_v1)
    print('Read %d weights from %s (%d folded batch norms unfolded)'
          % (len(unfrozen.weights), pb_path, unfrozen.nrof_unfolded))
    if args.nrof_check_images:
        check(pb_path, args.output_dir, args.nrof_check_images, args.image_size)
    print('Model %s written to %s' % (name, args.output_dir))


def check(pb_path, model_dir, nrof_images, image_size):
    """Compare the embeddings of random images by the graph and by the new folder."""
    images = np.random.RandomState(0).uniform(
        -1.0, 1.0, (nrof_images, image_size, image_size, 3)).astype(np.float32)
    difference = unfreezing.max_embedding_difference(pb_path, model_dir, images)
    print('Embeddings of %d random images differ from the graph\'s by at most %.2g'
          % (nrof_images, difference))
    if not difference <= MAX_CHECK_DIFFERENCE:
        raise FacenetError('the checkpoint does not reproduce %s (embeddings differ by %.2g): '
                           'not a classic Inception-ResNet-v1 graph?' % (pb_path, difference))


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     parents=[arguments.image_size_args(160)])
    parser.add_argument('pb', help='The frozen graph (.pb file, or a folder holding one).')
    parser.add_argument('output_dir', help='Model folder to create (replaced if it exists).')
    parser.add_argument('--model_name', default=None,
                        help='Name used in the file names (default: the folder name).')
    parser.add_argument('--nrof_check_images', type=arguments.non_negative_int, default=4,
                        help='Random images whose embeddings by the new folder are compared '
                             'with the graph\'s (0: no check).')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
