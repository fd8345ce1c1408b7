"""Argument groups shared by the scripts, declared once and composed with ``parents=``.

Each function returns a parent parser (``add_help=False``); a script builds its own parser
with ``argparse.ArgumentParser(parents=[...])`` so every flag keeps the classic name and
default in exactly one place.
"""
import argparse
import math
import os

from toolkit.training.options import LfwOptions, NetworkOptions, parse_scopes


def _parent():
    return argparse.ArgumentParser(add_help=False)


def _checked(text, value, ok, expected):
    """``value`` when ``ok``; else the argparse error ``must be <expected>, got <text>``."""
    if not ok:
        raise argparse.ArgumentTypeError('must be %s, got %s' % (expected, text))
    return value


def positive_int(text):
    """argparse type: an integer greater than zero."""
    value = int(text)
    return _checked(text, value, value > 0, 'a positive integer')


def non_negative_int(text):
    """argparse type: an integer of zero or more."""
    value = int(text)
    return _checked(text, value, value >= 0, 'zero or a positive integer')


def finite_float(text):
    """argparse type: a float that is a number (not nan or inf)."""
    value = float(text)
    return _checked(text, value, math.isfinite(value), 'a number')


def positive_float(text):
    """argparse type: a finite float greater than zero."""
    value = finite_float(text)
    return _checked(text, value, value > 0, 'greater than 0')


def _float_in(text, low, high, low_included):
    value = float(text)
    above = low <= value if low_included else low < value
    return _checked(text, value, above and value <= high,
                    'in %s%g, %g]' % ('[' if low_included else '(', low, high))


def folder_name(text):
    """argparse type: one folder name (no path separator, not ``.`` or ``..``), or empty."""
    if text in ('.', '..') or '/' in text or os.sep in text or '\0' in text:
        raise argparse.ArgumentTypeError('must be a folder name without "/", got "%s"' % text)
    return text


def fraction(text):
    """argparse type: a float in (0, 1]."""
    return _float_in(text, 0.0, 1.0, low_included=False)


def unit_interval(text):
    """argparse type: a float in [0, 1] (decay and update rates)."""
    return _float_in(text, 0.0, 1.0, low_included=True)


def percentile(text):
    """argparse type: a float in [0, 100]."""
    return _float_in(text, 0.0, 100.0, low_included=True)


def seed_value(text):
    """argparse type: a random seed numpy accepts (0 to 2**32 - 1)."""
    value = int(text)
    return _checked(text, value, 0 <= value < 2 ** 32, 'in [0, 4294967295]')


def add_model_argument(parser):
    """Add the classic positional ``model`` where the script's positionals need it."""
    parser.add_argument('model', type=str,
                        help='Could be either a directory containing the meta_file and ckpt_file '
                             'or a model protobuf (.pb) file')


def add_unknown_thresholds(parser, mode=''):
    """Add ``--probability_threshold`` and ``--distance_threshold``, the two rules that name a
    face Unknown (``identification``); ``mode`` prefixes their help (e.g. ``'CLASSIFY: '``)."""
    parser.add_argument('--probability_threshold', type=fraction, default=None,
                        help=mode + 'Report Unknown when the best class has a lower probability '
                                    '(SVM mode).')
    parser.add_argument('--distance_threshold', type=float, default=None,
                        help=mode + 'Report Unknown when the face is farther than this (euclidean '
                                    'distance of embeddings) from every training image of the '
                                    'best class.')


def image_size_args(default=160):
    parser = _parent()
    parser.add_argument('--image_size', type=positive_int, default=default,
                        help='Image size (height, width) in pixels.')
    return parser


def margin_args(default=44):
    parser = _parent()
    parser.add_argument('--margin', type=non_negative_int, default=default,
                        help='Margin for the crop around the bounding box (height, width) in pixels.')
    return parser


def gpu_args():
    parser = _parent()
    parser.add_argument('--gpu_memory_fraction', type=fraction, default=1.0,
                        help='Upper bound on the amount of GPU memory that will be used by the process.')
    return parser


def seed_args(default=666):
    parser = _parent()
    parser.add_argument('--seed', type=seed_value, default=default, help='Random seed.')
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
    """``--use_fixed_image_standardization [True|False]``: None when not given, so that the
    model's metadata file can decide (``toolkit.modelfiles.metadata.fixed_standardization``)."""
    parser = _parent()
    parser.add_argument('--use_fixed_image_standardization', type=boolean, nargs='?',
                        const=True, default=None,
                        help='Performs fixed standardization of images ((x - 127.5) / 128) '
                             'instead of per-image prewhitening. Default: what the model\'s '
                             'facenet_model.json says, else prewhitening. "False" forces '
                             'prewhitening.')
    return parser


def training_args(model_def='models.inception_resnet_v1'):
    """Flags common to train_softmax and train_tripletloss (classic names and defaults)."""
    parser = _parent()
    parser.add_argument('--logs_base_dir', type=str, default='~/logs/facenet',
                        help='Directory where to write event logs.')
    parser.add_argument('--models_base_dir', type=str, default='~/models/facenet',
                        help='Directory where to write trained models and checkpoints.')
    parser.add_argument('--pretrained_model', type=str,
                        help='Load a pretrained model (checkpoint prefix or folder) before '
                             'training starts.')
    parser.add_argument('--run_name', type=folder_name, default='',
                        help='Name of the run folders under --logs_base_dir and '
                             '--models_base_dir (default: the start time, yyyymmdd-hhmmss). '
                             'When that model folder holds a training state, the run resumes '
                             'from it (weights, global step, optimizer state, epoch).')
    parser.add_argument('--trainable_scopes', type=str, default='',
                        help='Comma-separated variable scopes to train (e.g. "Logits" or '
                             '"InceptionResnetV1/Block8,InceptionResnetV1/Bottleneck,Logits"); '
                             'the rest stays frozen. Default: train everything.')
    parser.add_argument('--data_dir', type=str, default='~/datasets/casia/casia_maxpy_mtcnnalign_182_160',
                        help='Path to the data directory containing aligned face patches '
                             '(several directories separated by ":").')
    parser.add_argument('--model_def', type=str, default=model_def,
                        help='Model definition. Points to a module containing the definition '
                             'of the inference graph.')
    parser.add_argument('--max_nrof_epochs', type=positive_int, default=500,
                        help='Number of epochs to run.')
    parser.add_argument('--batch_size', type=positive_int, default=90,
                        help='Number of images to process in a batch.')
    parser.add_argument('--epoch_size', type=positive_int, default=1000,
                        help='Number of batches per epoch.')
    parser.add_argument('--embedding_size', type=positive_int, default=128,
                        help='Dimensionality of the embedding.')
    parser.add_argument('--random_crop', action='store_true',
                        help='Performs random cropping of training images. If false, the center '
                             'image_size pixels from the training images are used. If the size of '
                             'the images in the data directory is equal to image_size no cropping '
                             'is performed')
    parser.add_argument('--random_flip', action='store_true',
                        help='Performs random horizontal flipping of training images.')
    parser.add_argument('--keep_probability', type=fraction, default=1.0,
                        help='Keep probability of dropout for the fully connected layer(s).')
    parser.add_argument('--weight_decay', type=finite_float, default=0.0,
                        help='L2 weight regularization.')
    parser.add_argument('--optimizer', type=str, default='ADAGRAD',
                        choices=['ADAGRAD', 'ADADELTA', 'ADAM', 'RMSPROP', 'MOM'],
                        help='The optimization algorithm to use')
    parser.add_argument('--learning_rate', type=finite_float, default=0.1,
                        help='Initial learning rate. If set to a negative value a learning rate '
                             'schedule can be specified in the file "learning_rate_schedule.txt"')
    parser.add_argument('--learning_rate_decay_epochs', type=positive_int, default=100,
                        help='Number of epochs between learning rate decay.')
    parser.add_argument('--learning_rate_decay_factor', type=finite_float, default=1.0,
                        help='Learning rate decay factor.')
    parser.add_argument('--moving_average_decay', type=unit_interval, default=0.9999,
                        help='Exponential decay for tracking of training parameters.')
    parser.add_argument('--learning_rate_schedule_file', type=str,
                        default='data/learning_rate_schedule.txt',
                        help='File containing the learning rate schedule that is used when '
                             'learning_rate is set to to -1.')
    parser.add_argument('--lfw_dir', type=str, default='',
                        help='Path to the data directory containing aligned LFW face patches '
                             '(evaluation on LFW after each epoch when set).')
    distribution_args(parser)
    return parser


def distribution_args(parser):
    """Data-parallel training flags (several devices; several workers through TF_CONFIG)."""
    parser.add_argument('--devices', type=str, default='',
                        help='Comma-separated TensorFlow devices to train on, one replica each '
                             '(e.g. /gpu:0,/gpu:1; /cpu:0,/cpu:1 makes that many CPU devices). '
                             '--batch_size is split evenly over all replicas of all workers.')
    parser.add_argument('--num_gpus', type=non_negative_int, default=0,
                        help='Shorthand for --devices /gpu:0,...,/gpu:<n-1>.')
    parser.add_argument('--sync_batch_norm', action='store_true',
                        help='With several replicas, batch norm uses the statistics of the whole '
                             'global batch (as one device would) instead of each replica\'s own.')
    parser.add_argument('--worker_timeout', type=positive_int, default=1800,
                        help='With TF_CONFIG (several workers): seconds to wait for the other '
                             'workers (at the start and in each step, including the chief\'s '
                             'validation and LFW pause) before stopping with an error.')


def softmax_fork_args():
    """train_softmax flags of the HW_face fork (fine-tuning recipes that users copy)."""
    parser = _parent()
    parser.add_argument('--is_finetune', action='store_true',
                        help='Train only the final classification layer (Logits), everything '
                             'else frozen: the same as --trainable_scopes Logits.')
    parser.add_argument('--load_without_fc', action='store_true',
                        help='Restore everything from --pretrained_model except the Logits '
                             'layer, even when the number of classes matches.')
    parser.add_argument('--test_dir', type=str, default='',
                        help='Aligned test images (one folder per class, classes of --data_dir); '
                             'their top-1 accuracy is computed at every validation.')
    parser.add_argument('--save_every_n_epochs', type=positive_int, default=1,
                        help='Write a checkpoint every N epochs (and after the last one).')
    return parser


def network_options(args, dtype='float32'):
    """The network flags of a training script as the library's NetworkOptions."""
    return NetworkOptions(args.model_def, args.image_size, args.embedding_size,
                          args.keep_probability, args.weight_decay,
                          parse_scopes(args.trainable_scopes), args.sync_batch_norm, dtype)


def lfw_options(args):
    """The ``--lfw_*`` flags of a training script as the library's LfwOptions."""
    return LfwOptions(args.lfw_dir, args.lfw_pairs, args.lfw_batch_size, args.lfw_nrof_folds,
                      args.lfw_distance_metric, args.lfw_subtract_mean,
                      args.lfw_use_flipped_images)


def boolean(text):
    """argparse type for classic ``type=bool`` flags given a value: true/false, yes/no, 1/0.

    The classic scripts used ``type=bool``, which turned any non-empty text, even "False",
    into True; this keeps ``--flag True`` working and makes ``--flag False`` mean False.
    """
    value = text.strip().lower()
    if value in ('1', 'true', 't', 'yes', 'y'):
        return True
    if value in ('0', 'false', 'f', 'no', 'n'):
        return False
    raise argparse.ArgumentTypeError('expected True or False, got %s' % text)


def vae_args(with_checkpoint=True):
    """The leading positionals of the VAE scripts, ``vae_def`` [and ``vae_checkpoint``], and
    their ``--latent_var_size``."""
    parser = _parent()
    parser.add_argument('vae_def', type=str,
                        help='Model definition for the variational autoencoder. Points to a module '
                             'containing the definition.')
    if with_checkpoint:
        parser.add_argument('vae_checkpoint', type=str,
                            help='Checkpoint file (or folder) of a pre-trained variational '
                                 'autoencoder.')
    parser.add_argument('--latent_var_size', type=positive_int, default=100,
                        help='Dimensionality of the latent variable.')
    return parser
