"""Argument groups shared by the scripts, declared once and composed with ``parents=``.

Each function returns a parent parser (``add_help=False``); a script builds its own parser
with ``argparse.ArgumentParser(parents=[...])`` so every flag keeps the classic name and
default in exactly one place.
"""
import argparse


def _parent():
    return argparse.ArgumentParser(add_help=False)


def positive_int(text):
    """argparse type: an integer greater than zero."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError('must be a positive integer, got %s' % text)
    return value


def non_negative_int(text):
    """argparse type: an integer of zero or more."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError('must be zero or a positive integer, got %s' % text)
    return value


def fraction(text):
    """argparse type: a float in (0, 1]."""
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError('must be in (0, 1], got %s' % text)
    return value


def image_size_args(default=160):
    parser = _parent()
    parser.add_argument('--image_size', type=positive_int, default=default,
                        help='Image size (height, width) in pixels.')
    return parser


def margin_args(default=44):
    parser = _parent()
    parser.add_argument('--margin', type=int, default=default,
                        help='Margin for the crop around the bounding box (height, width) in pixels.')
    return parser


def gpu_args():
    parser = _parent()
    parser.add_argument('--gpu_memory_fraction', type=fraction, default=1.0,
                        help='Upper bound on the amount of GPU memory that will be used by the process.')
    return parser


def seed_args(default=666):
    parser = _parent()
    parser.add_argument('--seed', type=int, default=default, help='Random seed.')
    return parser


def lfw_args(prefix='lfw_', batch_size=100, nrof_folds=10, pairs='data/pairs.txt'):
    """The LFW evaluation flags: ``--lfw_*`` in training scripts, unprefixed in validate_on_lfw."""
    parser = _parent()
    parser.add_argument('--lfw_pairs', type=str, default=pairs,
                        help='The file containing the pairs to use for validation.')
    parser.add_argument('--lfw_batch_size', type=positive_int, default=batch_size,
                        help='Number of images to process in a batch in the LFW test set.')
    parser.add_argument('--lfw_nrof_folds', type=positive_int, default=nrof_folds,
                        help='Number of folds to use for cross validation. Mainly used for testing.')
    parser.add_argument('--%sdistance_metric' % prefix, type=int, choices=[0, 1], default=0,
                        help='Distance metric  0:euclidian, 1:cosine similarity.')
    parser.add_argument('--%suse_flipped_images' % prefix, action='store_true',
                        help='Concatenates embeddings for the image and its horizontally flipped counterpart.')
    parser.add_argument('--%ssubtract_mean' % prefix, action='store_true',
                        help='Subtract feature mean before calculating distance.')
    return parser


def standardization_args():
    parser = _parent()
    parser.add_argument('--use_fixed_image_standardization', action='store_true',
                        help='Performs fixed standardization of images ((x - 127.5) / 128) '
                             'instead of per-image prewhitening.')
    return parser
