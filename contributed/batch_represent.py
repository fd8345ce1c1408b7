"""Embeddings and labels of a folder tree of aligned face images (one folder per person).

    python contributed/batch_represent.py -d DATA_DIR -o OUTPUT_DIR --trained_model_dir MODEL

Writes ``OUTPUT_DIR/signatures.npy`` (N x D embeddings) and ``OUTPUT_DIR/gallery.npy`` (N
class indices, classes in sorted folder order), as the classic script.

Differences: any model folder or .pb works (the classic script needed a .meta file); the
image size is the model's own input size when it has one, else ``--image_size`` (160);
unreadable images are reported and left out of both arrays; the files are written
atomically; ``--use_fixed_image_standardization`` for models trained with it. The output
folder also gets ``gallery_names.npy`` (the class name of each index).
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

import numpy as np  # noqa: E402

from export_embeddings import save_array  # noqa: E402
import models  # noqa: E402
from toolkit import cli  # noqa: E402
from toolkit.cli import arguments  # noqa: E402
from toolkit.data import folders  # noqa: E402
from toolkit import fileio  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402
from toolkit.inference.embedder import Embedder  # noqa: E402
from toolkit.progress import Progress  # noqa: E402
from toolkit.recognition import faces  # noqa: E402


def main(args):
    cli.resolve_standardization(args, args.trained_model_dir)
    output_dir = os.path.expanduser(args.output_dir)
    fileio.check_writable(output_dir, 'output folder', directory=True)
    dataset = folders.get_dataset(args.data_dir)
    paths, labels = folders.get_image_paths_and_labels(dataset)
    if not paths:
        raise FacenetError('no images in %s' % args.data_dir)
    print('Loading trained model...\n')
    with Embedder(args.trained_model_dir, image_size=args.image_size,
                  networks=models.import_network) as embedder:
        image_size = embedder.input_size[0] if embedder.input_size else args.image_size
        print('Generating embeddings from images...\n')
        start = time.time()
        with Progress(len(paths), 'Embedding') as progress:
            embeddings, kept, failures = faces.embed_image_files(
                embedder, paths, image_size, args.batch_size,
                args.use_fixed_image_standardization, progress=progress)
    for path, reason in failures:
        print('skipping %s: %s' % (path, reason))
    if not len(kept):
        raise FacenetError('no image of %s could be embedded' % args.data_dir)
    print('Forward pass took avg of %.3f[seconds/image] for %d images\n'
          % ((time.time() - start) / len(paths), len(paths)))
    print('Finally saving embeddings and gallery to: %s' % output_dir)
    fileio.make_dirs(output_dir, 'output folder')
    save_array(os.path.join(output_dir, 'gallery.npy'), np.array(labels, dtype=np.int64)[kept])
    save_array(os.path.join(output_dir, 'signatures.npy'), embeddings)
    save_array(os.path.join(output_dir, 'gallery_names.npy'),
               np.array([image_class.name for image_class in dataset]))


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        parents=[arguments.image_size_args(160), arguments.standardization_args()])
    parser.add_argument('-d', '--data_dir', type=str, required=True,
                        help='Directory of aligned images, one folder per person.')
    parser.add_argument('-o', '--output_dir', type=str, required=True,
                        help='Directory to store signatures.npy and gallery.npy in.')
    parser.add_argument('--trained_model_dir', type=str, required=True,
                        help='Model folder (checkpoint or .pb) or a .pb file.')
    parser.add_argument('--batch_size', type=arguments.positive_int, default=50,
                        help='Number of images to process in a batch.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
