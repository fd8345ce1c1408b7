"""Detect, align and embed the face in each image and print the matrix of their distances.

    python src/compare.py MODEL IMAGE [IMAGE ...] --image_size 160 --margin 44

Differences from the classic script: an image that cannot be read or holds no face is
reported by name and left out (the classic one crashed or misnumbered the rest); when an
image holds several faces the largest, most central one is used (as the aligner does; the
classic script took the detector's first box); ``--use_fixed_image_standardization`` is
needed for models trained with fixed standardization (e.g. 20180408-102900).
"""
import argparse
import sys

from align.detector import FaceDetector
import models
from toolkit import cli
from toolkit.cli import arguments
from toolkit.errors import FacenetError
from toolkit.inference.embedder import Embedder
from toolkit.recognition import faces


def main(args):
    cli.resolve_standardization(args, args.model)
    print('Creating networks and loading parameters')
    with FaceDetector(args.gpu_memory_fraction) as detector:
        aligned = faces.read_face_patches(args.image_files, args.image_size, detector,
                                          args.margin)
    for path, reason in aligned.failures:
        print("can't use %s: %s" % (path, reason))
    if not aligned.paths:
        raise FacenetError('no face found in any of the %d images' % len(args.image_files))
    with Embedder(args.model, args.gpu_memory_fraction, args.image_size,
                  networks=models.import_network) as embedder:
        embeddings = embedder.embed(
            faces.standardize(aligned.images, args.use_fixed_image_standardization))
    print_distance_matrix(aligned.paths, faces.distance_matrix(embeddings))


def print_distance_matrix(paths, distances):
    """The classic printout: numbered images, then the distance matrix."""
    print('Images:')
    for i, path in enumerate(paths):
        print('%1d: %s' % (i, path))
    print('')
    print('Distance matrix')
    print('\n'.join(faces.distance_matrix_lines(distances)))


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        parents=[arguments.image_size_args(160), arguments.margin_args(44),
                 arguments.gpu_args(), arguments.standardization_args()])
    arguments.add_model_argument(parser)
    parser.add_argument('image_files', type=str, nargs='+', help='Images to compare')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
