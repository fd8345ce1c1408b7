"""Calculate filtering metrics for a dataset and store them in an HDF5 file.

For every image: the distance of its embedding to the centre (mean embedding) of its class.
``train_softmax.py --filter_filename <file> --filter_percentile P`` then drops the images
farthest from their class centre. The file holds the classic datasets ``class_names``,
``image_list``, ``label_list`` and ``distance_to_center`` (see ``toolkit.data.filtering``).

Differences from the classic script: the model may be a frozen ``.pb`` or a checkpoint
folder; ``--use_fixed_image_standardization`` serves the newer models; classes are embedded
in order and only the unfinished class is kept in memory; the output file appears only once
it is complete.
"""
import argparse
import os

import models
from toolkit import cli, fileio
from toolkit.cli.arguments import image_size_args, positive_int, standardization_args
from toolkit.data import filtering
from toolkit.data.folders import fixed_standardization, get_dataset, get_image_paths_and_labels, load_data
from toolkit.errors import FacenetError
from toolkit.inference.embedder import Embedder
from toolkit.progress import Progress


def load_images(paths, image_size, use_fixed_image_standardization):
    """Center-cropped, standardized images (N, image_size, image_size, 3) for the model."""
    images = load_data(paths, False, False, image_size,
                       do_prewhiten=not use_fixed_image_standardization)
    return fixed_standardization(images) if use_fixed_image_standardization else images


def calculate_distances(args, image_list, label_list):
    """Embed the dataset with the model and return each image's distance to its class centre."""
    with Embedder(os.path.expanduser(args.model_file), image_size=args.image_size,
                  networks=models.import_network) as embedder:
        embedder.check_image_size(args.image_size, args.image_size)

        def embed(paths):
            images = load_images(paths, args.image_size, args.use_fixed_image_standardization)
            return embedder.embed(images, args.batch_size)

        with Progress(len(image_list), 'Embedding') as progress:
            return filtering.streamed_distances_to_class_centers(
                embed, image_list, label_list, args.batch_size, progress)


def main(args):
    fileio.check_writable(args.data_file_name, 'filtering data file')
    cli.resolve_standardization(args, args.model_file)
    dataset = get_dataset(args.dataset_dir)
    image_list, label_list = get_image_paths_and_labels(dataset)
    if not image_list:
        raise FacenetError('no images found in %s' % args.dataset_dir)
    print('Dataset: %d classes, %d images' % (len(dataset), len(image_list)))
    distance_to_center = calculate_distances(args, image_list, label_list)
    data_file_name = os.path.expanduser(args.data_file_name)
    print('Writing filtering data to %s' % data_file_name)
    filtering.write_filtering_metrics(data_file_name, [cls.name for cls in dataset],
                                      image_list, label_list, distance_to_center)
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        parents=[image_size_args(160), standardization_args()])
    parser.add_argument('dataset_dir', type=str,
                        help='Path to the directory containing aligned dataset.')
    parser.add_argument('model_file', type=str,
                        help='Model to use for feature extraction: a frozen graph (.pb) file or '
                             'a folder holding a checkpoint.')
    parser.add_argument('data_file_name', type=str,
                        help='The name of the file to store filtering data in.')
    parser.add_argument('--batch_size', type=positive_int, default=90,
                        help='Number of images to process in a batch.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
