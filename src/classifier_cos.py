"""Identify test faces by cosine similarity to the training classes (the HW_face fork's step).

    python src/classifier_cos.py TRAIN_DIR TEST_DIR MODEL --batch_size 256 --image_size 160

TRAIN_DIR and TEST_DIR hold one folder of aligned face images per person; test folders are
matched to training classes by name. Every image of both folders is embedded; for each test
image the training classes are ranked by the cosine similarity of its embedding to each class
(``--ranking mean``, the default: to the mean of the class's unit-length embeddings;
``--ranking nearest``: to the class's most similar image, the rule of
``classifier.py --nearest_neighbor``). Prints top-1 and top-5 accuracy and writes
``predictions_cos.txt``: one line per test image, its path and its five best classes,
tab-separated, best first.
"""
import argparse

import numpy as np

import models
from toolkit import cli
from toolkit.cli import arguments
from toolkit.data import folders
from toolkit.errors import FacenetError
from toolkit.fileio import atomic_open
from toolkit.inference import path_embedder
from toolkit.inference.embedder import Embedder
from toolkit.progress import Progress
from toolkit.recognition import identification

TOP_K = 5


def main(args):
    cli.resolve_standardization(args, args.model)
    train_set = image_classes(args.train_dir, 'TRAIN_DIR')
    test_set = image_classes(args.test_dir, 'TEST_DIR')
    train_paths, train_labels = folders.get_image_paths_and_labels(train_set)
    test_paths, test_dataset_labels = folders.get_image_paths_and_labels(test_set)
    class_names = [image_class.name for image_class in train_set]
    test_labels = identification.labels_for_classifier(
        [image_class.name for image_class in test_set], class_names)[test_dataset_labels]
    print('Training set: %d classes, %d images' % (len(train_set), len(train_paths)))
    print('Test set: %d classes, %d images' % (len(test_set), len(test_paths)))
    unknown = np.sum(test_labels == identification.UNKNOWN_LABEL)
    if unknown:
        print('%d test images show people the training set lacks; they count as misses'
              % unknown)

    embeddings = compute_embeddings(args, train_paths + test_paths)
    similarity = identification.class_similarities(
        embeddings[:len(train_paths)], train_labels, embeddings[len(train_paths):],
        len(class_names), args.ranking)
    ranked = identification.nearest_classes(similarity, TOP_K)
    for k in (1, TOP_K):
        print('Top-%d accuracy: %.3f' % (k, identification.top_k_accuracy(ranked, test_labels, k)))
    write_predictions(args.output_file, test_paths, ranked, class_names)
    print('Predictions written to %s' % args.output_file)


def image_classes(folder, what):
    """The classes of ``folder`` that hold images; FacenetError when there are none."""
    dataset = [image_class for image_class in folders.get_dataset(folder)
               if image_class.image_paths]
    if not dataset:
        raise FacenetError('no images in %s %s (expected one sub-folder of images per class)'
                           % (what, folder))
    return dataset


def compute_embeddings(args, paths):
    """Embeddings of the image files, read ahead by the tf.data pipeline."""
    print('Loading feature extraction model')
    with Embedder(args.model, args.gpu_memory_fraction, args.image_size,
                  networks=models.import_network) as embedder:
        nrof_images = path_embedder.nrof_network_images(paths)
        with Progress(nrof_images, 'Calculating features') as progress:
            return path_embedder.embed_image_paths(
                embedder.session, embedder.tensors, paths, args.batch_size, args.image_size,
                args.use_fixed_image_standardization, progress=progress)


def write_predictions(path, test_paths, ranked, class_names):
    """One line per test image: its path, then its best classes (tab-separated, best first)."""
    with atomic_open(path) as handle:
        for image_path, classes in zip(test_paths, ranked):
            handle.write('\t'.join([image_path] + [class_names[c] for c in classes]) + '\n')


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        parents=[arguments.image_size_args(160), arguments.standardization_args(),
                 arguments.gpu_args()])
    parser.add_argument('train_dir', type=str,
                        help='Aligned training images, one folder per class.')
    parser.add_argument('test_dir', type=str,
                        help='Aligned test images, one folder per class (named as in train_dir).')
    arguments.add_model_argument(parser)
    parser.add_argument('--batch_size', type=arguments.positive_int, default=90,
                        help='Number of images to process in a batch.')
    parser.add_argument('--ranking', choices=identification.RANKINGS,
                        default=identification.CLASS_MEAN,
                        help='Compare a test image with the mean embedding of each class '
                             '(mean) or with its most similar image (nearest).')
    parser.add_argument('--output_file', type=str, default='predictions_cos.txt',
                        help='Where to write the top-5 classes of each test image.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
