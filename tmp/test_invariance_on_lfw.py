"""LFW invariance test: verification accuracy of a model when the aligned faces are shifted,
rotated or scaled, written as PNG plots and text tables to ``--output_dir``.

    python tmp/test_invariance_on_lfw.py --model_file ~/models/facenet/20180408-102900 \\
        --lfw_dir ~/datasets/lfw/lfw_mtcnnpy_250 --orig_image_size 224 --use_fixed_image_standardization

Each image is centre-cropped to ``--orig_image_size``, transformed, cut to the model's input
size, standardized and embedded; accuracy is the classic 10-fold LFW accuracy. Differences
from the classic script: the angle and scale sweeps use ``--nrof_angles``/``--nrof_scales``
(the classic one used ``--nrof_offsets`` for all three), images are transformed as pixels
before standardization, a face scaled below the model's input size is zero-padded instead of
crashing, and results go to ``--output_dir`` instead of ``../data``.
"""
import argparse
import os
import sys

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import models  # noqa: E402
from toolkit import cli  # noqa: E402
from toolkit.cli.arguments import positive_int, seed_args, standardization_args  # noqa: E402
from toolkit.data.folders import crop, read_rgb_image  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402
from toolkit.evaluation import lfw  # noqa: E402
from toolkit.evaluation import metrics  # noqa: E402
from toolkit.fileio import atomic_open  # noqa: E402
from toolkit.inference.embedder import Embedder  # noqa: E402
from toolkit.plotting import save_line_plot  # noqa: E402
from toolkit.recognition.faces import standardize  # noqa: E402

OFFSET_STEP = 3  # pixels
ANGLE_STEP = 3  # degrees
SCALE_STEP = 0.05


def sweep(count, step, center=0.0):
    """``count`` values ``center + k * step`` for k from -count//2 + 1 up (classic spacing)."""
    return np.array([center + k * step for k in range(-count // 2 + 1, count // 2 + 1)])


def crop_or_pad(image, size, dx=0, dy=0):
    """The ``size`` x ``size`` window centred on the image centre moved by (dx, dy) pixels;
    parts outside the image are black."""
    height, width = image.shape[:2]
    top = (height - size) // 2 + int(dy)
    left = (width - size) // 2 + int(dx)
    out = np.zeros((size, size) + image.shape[2:], dtype=image.dtype)
    src_top, src_left = max(top, 0), max(left, 0)
    src_bottom, src_right = min(top + size, height), min(left + size, width)
    if src_bottom > src_top and src_right > src_left:
        out[src_top - top:src_bottom - top, src_left - left:src_right - left] = \
            image[src_top:src_bottom, src_left:src_right]
    return out


def translate_images(images, offset, image_size):
    """Cut each image's centre window shifted by ``offset = (horizontal, vertical)``."""
    return np.stack([crop_or_pad(image, image_size, *offset) for image in images])


def rotate_images(images, angle, image_size):
    """Rotate each image by ``angle`` degrees (counter-clockwise, bilinear), cut the centre."""
    return np.stack([crop_or_pad(np.asarray(Image.fromarray(image).rotate(
        angle, resample=Image.BILINEAR)), image_size) for image in images])


def scale_images(images, scale, image_size):
    """Resize each image by ``scale`` (bilinear), cut (or pad to) the centre window."""
    def rescale(image):
        size = max(1, int(round(image.shape[0] * scale)))
        return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
    return np.stack([crop_or_pad(rescale(image), image_size) for image in images])


def load_images(paths, orig_image_size):
    images = []
    for path in paths:
        image = read_rgb_image(path)
        if min(image.shape[:2]) < orig_image_size:
            raise FacenetError('image %s is %dx%d, smaller than --orig_image_size %d'
                               % (path, image.shape[1], image.shape[0], orig_image_size))
        images.append(crop(image, False, orig_image_size))
    return np.stack(images)


def evaluate_accuracy(embedder, images, issame, augment, value, args, image_size):
    """Per-fold LFW accuracy of the embeddings of ``augment(images, value, image_size)``."""
    embeddings = []
    for start in range(0, len(images), args.batch_size):
        batch = augment(images[start:start + args.batch_size], value, image_size)
        embeddings.append(embedder.embed(
            standardize(batch, args.use_fixed_image_standardization), args.batch_size))
    embeddings = np.concatenate(embeddings)
    _, _, accuracy = metrics.calculate_roc(lfw.ROC_THRESHOLDS, embeddings[0::2],
                                           embeddings[1::2], issame, args.lfw_nrof_folds)
    return accuracy


def save_result(values, accuracies, filename):
    with atomic_open(filename) as handle:
        for value, accuracy in zip(values, accuracies):
            handle.write('%6.4f %6.4f\n' % (value, accuracy))


def run_sweep(embedder, images, issame, args, image_size, label, values, augment, shown=None):
    """Mean accuracy for each transformation value (printed as ``shown``, default the value)."""
    accuracies = []
    for value, printed in zip(values, values if shown is None else shown):
        accuracy = evaluate_accuracy(embedder, images, issame, augment, value, args, image_size)
        print('%s: %1.3f  Accuracy: %1.3f+-%1.3f'
              % (label, printed, np.mean(accuracy), np.std(accuracy)))
        accuracies.append(float(np.mean(accuracy)))
    return accuracies


def main(args):
    cli.resolve_standardization(args, args.model_file)
    pairs = lfw.read_pairs(os.path.expanduser(args.lfw_pairs))
    paths, issame = lfw.get_paths(os.path.expanduser(args.lfw_dir), pairs)
    if not paths:
        raise FacenetError('no pair of %s was found in %s' % (args.lfw_pairs, args.lfw_dir))
    issame = np.asarray(issame)
    images = load_images(paths, args.orig_image_size)
    output_dir = os.path.expanduser(args.output_dir)
    with Embedder(os.path.expanduser(args.model_file), image_size=args.image_size,
                  networks=models.import_network) as embedder:
        image_size = embedder.input_size[0] if embedder.input_size else args.image_size
        max_offset = OFFSET_STEP * (args.nrof_offsets // 2)
        if args.nrof_offsets and (args.orig_image_size - image_size) // 2 < max_offset:
            print('warning: offsets up to %d pixels go beyond the %d-pixel border; the face is '
                  'padded with black' % (max_offset, (args.orig_image_size - image_size) // 2),
                  file=sys.stderr)
        if args.nrof_offsets:
            offsets = sweep(args.nrof_offsets, OFFSET_STEP)
            horizontal = run_sweep(embedder, images, issame, args, image_size, 'Hoffset',
                                   [(o, 0) for o in offsets], translate_images, offsets)
            vertical = run_sweep(embedder, images, issame, args, image_size, 'Voffset',
                                 [(0, o) for o in offsets], translate_images, offsets)
            write_results(output_dir, 'translation', 'Offset [pixels]',
                          offsets, {'Horizontal': horizontal, 'Vertical': vertical})
        if args.nrof_angles:
            angles = sweep(args.nrof_angles, ANGLE_STEP)
            accuracy = run_sweep(embedder, images, issame, args, image_size, 'Angle', angles,
                                 rotate_images)
            write_results(output_dir, 'rotation', 'Angle [deg]', angles, {'': accuracy})
        if args.nrof_scales:
            scales = sweep(args.nrof_scales, SCALE_STEP, center=1.0)
            accuracy = run_sweep(embedder, images, issame, args, image_size, 'Scale', scales,
                                 scale_images)
            write_results(output_dir, 'scale', 'Scale', scales, {'': accuracy})
    return 0


def write_results(output_dir, name, xlabel, values, accuracies_by_label):
    """``invariance_<name>.png`` and one ``invariance_<name>[_<label>].txt`` per curve."""
    series = {label: (values, accuracies) for label, accuracies in accuracies_by_label.items()}
    save_line_plot(os.path.join(output_dir, 'invariance_%s.png' % name), series,
                   title='%s invariance on LFW' % name.capitalize(), xlabel=xlabel,
                   ylabel='Accuracy')
    for label, accuracies in accuracies_by_label.items():
        suffix = '_' + label.lower() if label else ''
        save_result(values, accuracies,
                    os.path.join(output_dir, 'invariance_%s%s.txt' % (name, suffix)))
    print('Saved results in %s' % output_dir)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     parents=[seed_args(), standardization_args()])
    parser.add_argument('--model_file', type=str, required=True,
                        help='Model: a frozen graph (.pb) or a folder holding a checkpoint.')
    parser.add_argument('--nrof_offsets', type=int, default=21,
                        help='Number of horizontal and vertical offsets to evaluate.')
    parser.add_argument('--nrof_angles', type=int, default=21, help='Number of angles to evaluate.')
    parser.add_argument('--nrof_scales', type=int, default=21, help='Number of scales to evaluate.')
    parser.add_argument('--lfw_pairs', type=str, default='data/pairs.txt',
                        help='The file containing the pairs to use for validation.')
    parser.add_argument('--lfw_dir', type=str, default='~/datasets/lfw/lfw_realigned/',
                        help='Path to the data directory containing aligned face patches.')
    parser.add_argument('--orig_image_size', type=positive_int, default=224,
                        help='Image size (height, width) in pixels of the original '
                             '(uncropped/unscaled) images.')
    parser.add_argument('--image_size', type=positive_int, default=160,
                        help='Model input size, when the model does not fix it.')
    parser.add_argument('--lfw_nrof_folds', type=positive_int, default=10,
                        help='Number of folds to use for cross validation. Mainly used for testing.')
    parser.add_argument('--batch_size', type=positive_int, default=60,
                        help='Number of images to process in a batch.')
    parser.add_argument('--output_dir', type=str, default='.',
                        help='Directory to write the plots and result tables to.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
