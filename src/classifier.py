"""Train a classifier on face embeddings of your own people, or use one to classify faces.

    python src/classifier.py TRAIN    DATA_DIR MODEL classifier.pkl [--use_split_dataset ...]
    python src/classifier.py CLASSIFY DATA_DIR MODEL classifier.pkl [--use_split_dataset ...]

DATA_DIR holds one folder of aligned face images per person. TRAIN fits a linear SVM with
class probabilities and pickles ``(model, class_names)``; CLASSIFY prints each image's best
class and probability, then the accuracy.

Additions to the classic script:
  * ``--probability_threshold`` / ``--distance_threshold``: report ``Unknown`` when the best
    class is not probable enough, or when the face is farther than the threshold from every
    training image of that class (euclidean distance of embeddings, as compare.py prints).
    An image of a person the classifier was not trained on counts as correct when rejected.
  * ``--nearest_neighbor``: cosine nearest-neighbour retrieval instead of the SVM (gallery =
    the training images stored in the classifier file, probes = the images classified);
    CLASSIFY also reports top-1 and top-5 accuracy. TRAIN with it stores a 1-NN classifier
    (works with a single image per person).
  * ``--test_data_dir`` is used: CLASSIFY without ``--use_split_dataset`` classifies it
    (the classic script declared it but read DATA_DIR). Classes are matched by name.
  * The SVM's probabilities come from Platt calibration on cross-validation folds
    (scikit-learn's replacement for the deprecated ``SVC(probability=True)``).
  * Bad inputs (empty class, no images, a file that is not a classifier, a classifier
    trained with another embedding size) stop with a one-line message.
"""
import argparse

import numpy as np

import models
from toolkit import cli, fileio
from toolkit.cli import arguments
from toolkit.data import folders
from toolkit.errors import FacenetError
from toolkit.inference import path_embedder
from toolkit.inference.embedder import Embedder
from toolkit.inference.path_embedder import PathEmbedder
from toolkit.progress import Progress
from toolkit.recognition import identification

TOP_K = 5


def main(args):
    if args.mode == 'TRAIN':
        fileio.check_writable(args.classifier_filename, 'classifier file')
    cli.resolve_standardization(args, args.model)
    dataset = select_dataset(args)
    if args.mode == 'TRAIN':
        empty = [image_class.name for image_class in dataset if not image_class.image_paths]
        if empty:
            raise FacenetError('there must be at least one image for each class in the '
                               'dataset; no images for: %s' % ', '.join(empty))
    else:
        dataset = [image_class for image_class in dataset if image_class.image_paths]
    paths, labels = folders.get_image_paths_and_labels(dataset)
    if not paths:
        raise FacenetError('no images to %s in %s' % (args.mode.lower(), dataset_dir(args)))
    print('Number of classes: %d' % len(dataset))
    print('Number of images: %d' % len(paths))
    warning = folders.small_image_warning(paths, args.image_size)
    if warning:
        print(warning)

    classifier = None
    if args.mode == 'CLASSIFY':
        classifier = identification.load_classifier(args.classifier_filename)
    print('Loading feature extraction model')
    with Embedder(args.model, image_size=args.image_size,
                  networks=models.import_network) as embedder:
        if classifier is not None:
            identification.check_embedding_size(classifier[0], embedder.embedding_size,
                                                args.classifier_filename)
        print('Calculating features for images')
        embeddings = compute_embeddings(embedder, paths, args)

    class_names = [identification.display_name(image_class.name) for image_class in dataset]
    if args.mode == 'TRAIN':
        train(args, embeddings, labels, class_names)
    else:
        classify(args, classifier, embeddings, labels, class_names)


def dataset_dir(args):
    use_test_dir = args.mode == 'CLASSIFY' and args.test_data_dir and not args.use_split_dataset
    return args.test_data_dir if use_test_dir else args.data_dir


def select_dataset(args):
    """The image classes this run embeds: the train or test part of a split, or a folder."""
    if args.use_split_dataset:
        rng = np.random.RandomState(args.seed)
        train_set, test_set = identification.split_per_class(
            folders.get_dataset(args.data_dir), args.min_nrof_images_per_class,
            args.nrof_train_images_per_class, rng)
        if not train_set:
            raise FacenetError('no class of %s has at least %d images '
                               '(--min_nrof_images_per_class)'
                               % (args.data_dir, args.min_nrof_images_per_class))
        return train_set if args.mode == 'TRAIN' else test_set
    return folders.get_dataset(dataset_dir(args))


def compute_embeddings(embedder, paths, args):
    """Embeddings of aligned image files, read ahead by the tf.data pipeline."""
    with embedder.session.graph.as_default():
        reader = PathEmbedder(embedder.tensors, args.image_size, args.batch_size,
                              args.use_fixed_image_standardization)
    with Progress(path_embedder.nrof_network_images(paths), 'Calculating features') as progress:
        return reader.embed(embedder.session, paths, progress=progress)


def train(args, embeddings, labels, class_names):
    print('Training classifier')
    if args.nearest_neighbor:
        model = identification.train_nearest_neighbor(embeddings, labels)
    else:
        model = identification.train_svc(embeddings, labels)
    identification.save_classifier(args.classifier_filename, model, class_names)
    print('Saved classifier model to file "%s"' % args.classifier_filename)


def classify(args, classifier, embeddings, labels, dataset_class_names):
    print('Testing classifier')
    print('Loaded classifier model from file "%s"' % args.classifier_filename)
    model, class_names = classifier
    # Dataset labels -> the classifier's class indices (-1: a person it does not know).
    labels = identification.labels_for_classifier(dataset_class_names, class_names)[labels]
    gallery = identification.gallery(model)
    if gallery is None and (args.nearest_neighbor or args.distance_threshold is not None):
        raise FacenetError('%s holds no training embeddings (a classic classifier file?); '
                           'train it again with this classifier.py to use --nearest_neighbor '
                           'or --distance_threshold' % args.classifier_filename)
    similarity = None
    if gallery is not None:
        similarity = identification.class_similarities(gallery[0], gallery[1], embeddings,
                                                       len(class_names))
    if args.nearest_neighbor:
        ranked = identification.nearest_classes(similarity, TOP_K)
        best = ranked[:, 0]
        scores = similarity[np.arange(len(best)), best]
    else:
        best, scores = identification.best_classes(model, embeddings)
    distances = (identification.similarity_to_distance(similarity[np.arange(len(best)), best])
                 if similarity is not None else None)
    predicted = identification.reject_unknown(
        best, scores, distances, None if args.nearest_neighbor else args.probability_threshold,
        args.distance_threshold)

    for i, index in enumerate(predicted):
        print('%4d  %s: %.3f' % (i, identification.class_name(class_names, index), scores[i]))
    print_accuracy(args, predicted, labels, ranked if args.nearest_neighbor else None)


def print_accuracy(args, predicted, labels, ranked):
    """Accuracy of the decisions, top-k retrieval accuracy, and the rejection counts."""
    known = labels != identification.UNKNOWN_LABEL
    if not known.all():
        print('%d images show people the classifier was not trained on; they count as '
              'correct when reported as %s' % (np.sum(~known), identification.UNKNOWN))
    if ranked is not None and known.any():
        for k in (1, TOP_K):
            print('Top-%d accuracy: %.3f' % (k, identification.top_k_accuracy(
                ranked[known], labels[known], k)))
    if args.probability_threshold is not None or args.distance_threshold is not None:
        rejected = predicted == identification.UNKNOWN_LABEL
        print('Known people recognised: %d of %d (%d reported as %s)'
              % (np.sum(predicted[known] == labels[known]), np.sum(known),
                 np.sum(rejected[known]), identification.UNKNOWN))
        if not known.all():
            print('Unknown people rejected: %d of %d' % (np.sum(rejected[~known]),
                                                         np.sum(~known)))
    print('Accuracy: %.3f' % np.mean(np.equal(predicted, labels)))


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        parents=[arguments.image_size_args(160), arguments.seed_args(666),
                 arguments.standardization_args()])
    parser.add_argument('mode', type=str, choices=['TRAIN', 'CLASSIFY'],
                        help='Indicates if a new classifier should be trained or a '
                             'classification model should be used for classification')
    parser.add_argument('data_dir', type=str,
                        help='Path to the data directory containing aligned LFW face patches.')
    arguments.add_model_argument(parser)
    parser.add_argument('classifier_filename',
                        help='Classifier model file name as a pickle (.pkl) file. For training '
                             'this is the output and for classification this is an input.')
    parser.add_argument('--use_split_dataset', action='store_true',
                        help='Indicates that the dataset specified by data_dir should be split '
                             'into a training and test set. Otherwise a separate test set can '
                             'be specified using the test_data_dir option.')
    parser.add_argument('--test_data_dir', type=str,
                        help='Path to the test data directory containing aligned images used '
                             'for testing (CLASSIFY without --use_split_dataset).')
    parser.add_argument('--batch_size', type=arguments.positive_int, default=90,
                        help='Number of images to process in a batch.')
    parser.add_argument('--min_nrof_images_per_class', type=arguments.non_negative_int,
                        default=20,
                        help='Only include classes with at least this number of images in the '
                             'dataset')
    parser.add_argument('--nrof_train_images_per_class', type=arguments.positive_int,
                        default=10,
                        help='Use this number of images from each class for training and the '
                             'rest for testing')
    arguments.add_unknown_thresholds(parser, 'CLASSIFY: ')
    parser.add_argument('--nearest_neighbor', action='store_true',
                        help='Cosine nearest-neighbour retrieval against the training images '
                             'instead of the SVM; CLASSIFY reports top-1 and top-5 accuracy.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
