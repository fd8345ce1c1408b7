"""Group aligned face images into folders of the same person with chinese whispers clustering.

    python contributed/clustering.py --model_dir MODEL --input FACES_DIR --output OUT_DIR

Each image of FACES_DIR (aligned face crops, one face each) is embedded; faces closer than
--threshold are linked in a graph, chinese whispers finds its clusters, and each cluster is
copied to OUT_DIR/<n>/ (largest cluster 0; a face without close neighbours forms its own
cluster).

Differences from the classic script: --threshold is a euclidean distance between embeddings
(default 0.95: the classic similarity threshold 0.55, as a distance), the iteration count and
random seed are flags, any model folder or .pb works (the classic script needed a .meta
file), networkx is not needed, --batch_size defaults to 30 (the classic declaration was
broken) and non-image files are ignored.
"""
import argparse
import os
import shutil
import sys

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

import numpy as np  # noqa: E402

import models  # noqa: E402
from toolkit import cli  # noqa: E402
from toolkit.cli import arguments  # noqa: E402
from toolkit.data import folders  # noqa: E402
from toolkit import fileio  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402
from toolkit.inference.embedder import Embedder  # noqa: E402
from toolkit.progress import Progress  # noqa: E402
from toolkit.recognition import clustering, faces  # noqa: E402


def main(args):
    fileio.check_writable(args.output, '--output folder', directory=True)
    cli.resolve_standardization(args, args.model_dir)
    image_paths = folders.get_image_paths(os.path.expanduser(args.input))
    if len(image_paths) < 2:
        raise FacenetError('clustering needs at least two images in %s, found %d'
                           % (args.input, len(image_paths)))
    with Embedder(args.model_dir, image_size=args.image_size,
                  networks=models.import_network) as embedder:
        image_size = embedder.input_size[0] if embedder.input_size else args.image_size
        print('image_size: %d' % image_size)
        print('Running forward pass on images')
        with Progress(len(image_paths), 'Forward pass') as progress:
            embeddings, kept, failures = faces.embed_image_files(
                embedder, image_paths, image_size, args.batch_size,
                args.use_fixed_image_standardization, progress=progress)
    for path, reason in failures:
        print('skipping %s: %s' % (path, reason))
    paths = [image_paths[i] for i in kept]
    labels = clustering.chinese_whispers(embeddings, args.threshold, args.iterations,
                                         np.random.RandomState(args.seed))
    nrof_clusters = labels.max() + 1 if len(labels) else 0
    print('Number of clusters: %d' % nrof_clusters)
    for cluster in range(nrof_clusters):
        cluster_dir = os.path.join(args.output, str(cluster))
        fileio.make_dirs(cluster_dir, 'cluster folder')
        for index in np.flatnonzero(labels == cluster):
            with fileio.atomic_path(os.path.join(cluster_dir,
                                                 os.path.basename(paths[index]))) as tmp_path:
                shutil.copyfile(paths[index], tmp_path)
        print('Cluster %d: %d images' % (cluster, np.sum(labels == cluster)))


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        parents=[arguments.image_size_args(160), arguments.seed_args(0),
                 arguments.standardization_args()])
    parser.add_argument('--model_dir', type=str, required=True,
                        help='Model folder (checkpoint or .pb) or a .pb file')
    parser.add_argument('--batch_size', type=arguments.positive_int, default=30,
                        help='batch size')
    parser.add_argument('--input', type=str, required=True, help='Input dir of images')
    parser.add_argument('--output', type=str, required=True, help='Output dir of clusters')
    parser.add_argument('--threshold', type=float, default=0.95,
                        help='Largest embedding distance of two faces linked in the graph.')
    parser.add_argument('--iterations', type=arguments.positive_int, default=20,
                        help='Chinese whispers iterations.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
