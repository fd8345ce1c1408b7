"""Export the embeddings and labels of a folder of face images (one folder per person) as
numpy arrays.

    python contributed/export_embeddings.py MODEL_DIR DATA_DIR [--is_aligned False]

Writes ``embeddings.npy`` (N x D float32), ``labels.npy`` (N class indices) and
``label_strings.npy`` (N class names), names set by --embeddings_name, --labels_name and
--labels_strings_name. ``--is_aligned False`` detects and aligns the main face of each
photo with MTCNN first.

Differences from the classic script: ``label_strings`` follows the sorted class order of
``labels`` (the classic one listed folders unsorted, so names and labels could disagree);
``--is_aligned False``/``True`` are parsed as booleans (the classic script aligned for any
value given on the command line); an unreadable image or a photo without a face is reported
and left out of all three arrays instead of stopping the export; the files are written
atomically; ``--use_fixed_image_standardization`` for models trained with it.
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

from align.detector import FaceDetector  # noqa: E402
import models  # noqa: E402
from toolkit import cli  # noqa: E402
from toolkit.cli import arguments  # noqa: E402
from toolkit.data import folders  # noqa: E402
from toolkit import fileio  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402
from toolkit.fileio import atomic_path  # noqa: E402
from toolkit.inference.embedder import Embedder  # noqa: E402
from toolkit.progress import Progress  # noqa: E402
from toolkit.recognition import faces  # noqa: E402


def main(args):
    for name in (args.embeddings_name, args.labels_name, args.labels_strings_name):
        fileio.check_writable(npy_name(name), 'output file')
    cli.resolve_standardization(args, args.model_dir)
    dataset = folders.get_dataset(args.data_dir)
    image_list, label_list = folders.get_image_paths_and_labels(dataset)
    if not image_list:
        raise FacenetError('no images in %s' % args.data_dir)
    print('Number of images: %d' % len(image_list))
    detector = None if args.is_aligned else FaceDetector(args.gpu_memory_fraction)
    try:
        with Embedder(args.model_dir, args.gpu_memory_fraction, args.image_size,
                      networks=models.import_network) as embedder:
            start = time.time()
            with Progress(len(image_list), 'Embedding') as progress:
                embeddings, kept, failures = faces.embed_image_files(
                    embedder, image_list, args.image_size, args.image_batch,
                    args.use_fixed_image_standardization, detector, args.margin, progress)
    finally:
        if detector is not None:
            detector.close()
    print('Run time: %.1f s' % (time.time() - start))
    for path, reason in failures:
        print('skipping %s: %s' % (path, reason))
    if failures:
        print('Left out %d of %d images' % (len(failures), len(image_list)))
    if not len(kept):
        raise FacenetError('no image of %s could be embedded' % args.data_dir)
    labels = np.array(label_list, dtype=np.int64)[kept]
    label_strings = np.array([image_class.name for image_class in dataset])[labels]
    save_array(args.embeddings_name, embeddings)
    save_array(args.labels_name, labels)
    save_array(args.labels_strings_name, label_strings)
    print('Saved %d embeddings to %s' % (len(embeddings), args.embeddings_name))


def npy_name(filename):
    """The name np.save writes: ``filename`` with ``.npy`` appended when missing."""
    return filename if filename.endswith('.npy') else filename + '.npy'


def save_array(filename, array):
    """np.save through a temporary name (np.save itself appends .npy when missing)."""
    with atomic_path(npy_name(filename)) as tmp_path:
        np.save(tmp_path, array)


def boolean(text):
    """argparse type: True/False, yes/no, 1/0 (any case)."""
    value = text.strip().lower()
    if value in ('true', 'yes', '1'):
        return True
    if value in ('false', 'no', '0'):
        return False
    raise argparse.ArgumentTypeError('expected True or False, got %s' % text)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        parents=[arguments.image_size_args(160), arguments.margin_args(44),
                 arguments.gpu_args(), arguments.standardization_args()])
    parser.add_argument('model_dir', type=str,
                        help='Model folder (checkpoint or .pb) or a .pb file')
    parser.add_argument('data_dir', type=str,
                        help='Directory containing images. If images are not already aligned '
                             'and cropped include --is_aligned False.')
    parser.add_argument('--is_aligned', type=boolean, default=True,
                        help='Is the data directory already aligned and cropped?')
    parser.add_argument('--image_batch', type=arguments.positive_int, default=500,
                        help='Number of images stored in memory at a time. Default 500.')
    parser.add_argument('--embeddings_name', type=str, default='embeddings.npy',
                        help='File name of the embeddings numpy array.')
    parser.add_argument('--labels_name', type=str, default='labels.npy',
                        help='File name of the labels numpy array.')
    parser.add_argument('--labels_strings_name', type=str, default='label_strings.npy',
                        help='File name of the label names numpy array.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
