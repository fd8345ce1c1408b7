"""Detect, align, embed and classify every face in each image with a classifier.py file.

    python contributed/predict.py IMAGE [IMAGE ...] MODEL CLASSIFIER_FILE [--margin 44]

For each image prints ``people in image PATH :`` and one ``name: probability`` line per
face, as the classic script. Differences: an image that cannot be read or shows no face is
reported and the batch goes on (the classic script crashed); ``--probability_threshold`` and
``--distance_threshold`` report ``Unknown`` for people the classifier does not know, with the
probability of the class it rejected, that class and the reason;
``--use_fixed_image_standardization`` for models trained with it (e.g. 20180408-102900).
"""
import argparse
import os
import sys

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

from face import Recognition  # noqa: E402
from toolkit import cli  # noqa: E402
from toolkit.cli import arguments  # noqa: E402
from toolkit.data import folders  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402
from toolkit.recognition import identification  # noqa: E402


def main(args):
    """Print the people in each photo; exits with 1 when a photo could not be read."""
    unreadable = 0
    cli.resolve_standardization(args, args.model)
    with Recognition(args.model, args.classifier_filename, args.probability_threshold,
                     args.distance_threshold, args.image_size, args.margin,
                     args.gpu_memory_fraction,
                     args.use_fixed_image_standardization) as recognition:
        print('Loaded classifier model from file "%s"\n' % args.classifier_filename)
        for path in args.image_files:
            print('\npeople in image %s :' % path)
            try:
                found = recognition.identify(folders.read_rgb_image(path))
            except FacenetError as error:
                print('error: %s' % error)
                unreadable += 1
                continue
            if not found:
                print('no face found')
            for face in found:
                print(describe(face, args.probability_threshold, args.distance_threshold))
    if unreadable:
        raise FacenetError('%d of the %d images could not be read'
                           % (unreadable, len(args.image_files)))
    return 0


def describe(face, probability_threshold=None, distance_threshold=None):
    """``name: probability`` (the distance instead when no probability is known); for an
    ``Unknown`` face, the probability of the rejected class, its name and why it was rejected:
    ``Unknown: 0.412 (Tony Blair rejected: distance 1.305 > 1.100)``."""
    if face.probability is not None:
        line = '%s: %.3f' % (face.name, face.probability)
    else:
        line = '%s: distance %.3f' % (face.name, face.distance)
    if face.name != identification.UNKNOWN or face.best_name is None:
        return line
    reasons = []
    if probability_threshold is not None and face.probability is not None \
            and face.probability < probability_threshold:
        reasons.append('probability %.3f < %.3f' % (face.probability, probability_threshold))
    if distance_threshold is not None and face.distance > distance_threshold:
        reasons.append('distance %.3f > %.3f' % (face.distance, distance_threshold))
    return '%s (%s rejected: %s)' % (line, face.best_name, ', '.join(reasons))


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        parents=[arguments.image_size_args(160), arguments.seed_args(666),
                 arguments.margin_args(44), arguments.gpu_args(),
                 arguments.standardization_args()])
    parser.add_argument('image_files', type=str, nargs='+', help='Path(s) of the image(s)')
    arguments.add_model_argument(parser)
    parser.add_argument('classifier_filename',
                        help='Classifier model file name as a pickle (.pkl) file, written by '
                             'classifier.py TRAIN.')
    arguments.add_unknown_thresholds(parser)
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
