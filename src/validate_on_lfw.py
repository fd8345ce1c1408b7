"""Validate a face recognizer on the LFW dataset (the 10-fold view-2 pairs protocol).

Each image is run through the model; the embeddings of every pair are compared with the
classic metrics (accuracy, validation rate at FAR 1e-3, AUC, EER). Optionally writes the ROC
curve as an image (``--roc_plot``: log false accept rate axis, VAL@FAR=1e-3 and EER marked,
with the curves of earlier runs' ``--compare_results`` files) and the metrics with the
settings as JSON (``--results``). It says how many pairs of each kind it uses and warns about
folds lacking one kind; the input standardization comes from the model's metadata file
unless ``--use_fixed_image_standardization`` is given.

    python src/validate_on_lfw.py ~/datasets/lfw/lfw_mtcnnpy_160 ~/models/20180408-102900 \\
        --distance_metric 1 --use_flipped_images --subtract_mean --roc_plot roc.png
"""
import argparse
import json
import os
import time

import models
from toolkit import cli, plotting
from toolkit.cli import arguments
from toolkit.data.folders import small_image_warning
from toolkit.errors import FacenetError
from toolkit.evaluation import lfw
from toolkit.fileio import atomic_open, check_writable, repository_file
from toolkit.inference import path_embedder
from toolkit.inference.fast_graph import load_inference_model
from toolkit.progress import Progress
from toolkit.session import new_session
from toolkit.tf_compat import tf


def main(args):
    """Embed the LFW pairs, print the classic metrics, write the optional plot and results."""
    # Fail on a bad extension or an unwritable output before the long forward pass.
    cli.resolve_standardization(args, args.model)
    if args.roc_plot:
        plotting.plot_format(args.roc_plot)
        check_writable(args.roc_plot, '--roc_plot file')
    if args.results:
        check_writable(args.results, '--results file')
    if split_paths(args.compare_results) and not args.roc_plot:
        raise FacenetError('--compare_results needs --roc_plot (the file to draw the curves in)')
    earlier_curves = [read_results_curve(path) for path in split_paths(args.compare_results)]
    pairs = lfw.read_pairs(repository_file(args.lfw_pairs))
    found = lfw.find_pair_paths(os.path.expanduser(args.lfw_dir), pairs)
    if found.nrof_skipped_pairs > 0:
        print('Skipped %d image pairs' % found.nrof_skipped_pairs)
    warning = small_image_warning(path_embedder.distinct_paths(found.paths), args.image_size)
    if warning:
        print(warning)
    lfw.require_folds(args.lfw_nrof_folds)
    if len(found.issame) < args.lfw_nrof_folds:
        raise FacenetError('%d of the %d pairs in %s have both images in %s; %d folds need at '
                           'least %d' % (len(found.issame), len(pairs), args.lfw_pairs,
                                         args.lfw_dir, args.lfw_nrof_folds, args.lfw_nrof_folds))
    for line in lfw.pair_count_lines(found.issame, args.lfw_nrof_folds):
        print(line)
    embeddings, seconds = compute_embeddings(args, found.paths)
    metrics = lfw.evaluate_metrics(embeddings, found.issame, nrof_folds=args.lfw_nrof_folds,
                                   distance_metric=args.distance_metric,
                                   subtract_mean=args.subtract_mean)
    for line in lfw.metrics_lines(metrics):
        print(line)
    incomplete = lfw.incomplete_folds(found.issame, args.lfw_nrof_folds)
    if incomplete:
        print('warning: %d of the %d folds lack same-person or different-person pairs (see '
              'above): AUC and EER are not meaningful'
              % (len({fold for fold, _, _ in incomplete}), args.lfw_nrof_folds))
    if args.roc_plot:
        write_roc_plot(args.roc_plot, args.model, metrics, earlier_curves)
        print('ROC curve written to %s' % args.roc_plot)
    if args.results:
        write_results(args.results, args, found, metrics, embeddings.shape[1], seconds)
        print('Results written to %s' % args.results)


def write_roc_plot(path, model, metrics, earlier_curves):
    """This run's ROC curve, with those of earlier runs (``--compare_results``), as a plot."""
    this_run = plotting.RocCurve(model_label(model), metrics.fpr, metrics.tpr, metrics.val,
                                 metrics.eer)
    title = ('ROC curves on LFW' if earlier_curves
             else 'ROC curve on LFW (AUC = %1.3f)' % metrics.auc)
    plotting.write_roc_curve(path, [this_run] + earlier_curves, title, lfw.FAR_TARGET)


def compute_embeddings(args, paths):
    """Load the model and embed ``paths`` (two per pair). Returns (embeddings, seconds)."""
    with tf.Graph().as_default():
        with new_session(gpu_memory_fraction=args.gpu_memory_fraction) as sess:
            tensors = load_inference_model(args.model, image_size=args.image_size,
                                           networks=models.import_network)
            embedder = path_embedder.PathEmbedder(tensors, args.image_size, args.lfw_batch_size,
                                                  args.use_fixed_image_standardization)
            print('Runnning forward pass on LFW images')
            start = time.time()
            nrof_images = path_embedder.nrof_network_images(paths, args.use_flipped_images)
            with Progress(nrof_images, 'Forward pass') as progress:
                embeddings = embedder.embed(sess, paths, args.use_flipped_images, progress)
            seconds = time.time() - start
    return embeddings, seconds


def write_results(path, args, found, metrics, embedding_size, seconds):
    """Write the metrics, the ROC curve and the settings of this run as JSON, atomically."""
    # Each distinct image (and its mirror image) goes through the network once.
    nrof_images = path_embedder.nrof_network_images(found.paths, args.use_flipped_images)
    results = {
        'settings': vars(args),
        'nrof_pairs': len(found.issame),
        'nrof_skipped_pairs': found.nrof_skipped_pairs,
        'embedding_size': int(embedding_size),
        'nrof_images_embedded': nrof_images,
        'forward_pass_seconds': round(seconds, 3),
        'images_per_second': round(nrof_images / max(seconds, 1e-9), 2),
        'accuracy_mean': float(metrics.accuracy.mean()),
        'accuracy_std': float(metrics.accuracy.std()),
        'accuracy_per_fold': metrics.accuracy.tolist(),
        'val': metrics.val,
        'val_std': metrics.val_std,
        'far': metrics.far,
        'far_target': lfw.FAR_TARGET,
        'auc': metrics.auc,
        'eer': metrics.eer,
        'roc': {'thresholds': lfw.ROC_THRESHOLDS.tolist(), 'tpr': metrics.tpr.tolist(),
                'fpr': metrics.fpr.tolist()},
    }
    with atomic_open(path) as handle:
        json.dump(results, handle, indent=2)
        handle.write('\n')


def split_paths(text):
    """The file names of a comma-separated ``--compare_results`` value."""
    return [path for path in (text or '').split(',') if path.strip()]


def model_label(model):
    """A short name for a model path in plot legends: its folder or file name."""
    name = os.path.basename(os.path.normpath(os.path.expanduser(model)))
    return os.path.splitext(name)[0] if name.endswith('.pb') else name


def read_results_curve(path):
    """The ROC curve of an earlier run's ``--results`` JSON file, as a plotting.RocCurve.

    Raises:
        FacenetError: the file is missing or is not such a results file.
    """
    try:
        with open(os.path.expanduser(path), 'r') as handle:
            results = json.load(handle)
        roc = results['roc']
        fpr, tpr = [float(x) for x in roc['fpr']], [float(x) for x in roc['tpr']]
        if len(fpr) != len(tpr) or not fpr:
            raise ValueError('ROC rates of different lengths')
        val, eer = results.get('val'), results.get('eer')
        label = model_label(str(results.get('settings', {}).get('model', path)))
        return plotting.RocCurve(label, fpr, tpr, None if val is None else float(val),
                                 None if eer is None else float(eer))
    except FileNotFoundError:
        raise FacenetError('results file not found: %s' % path) from None
    except OSError as error:
        raise FacenetError('cannot read results file %s: %s' % (path, error)) from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise FacenetError('%s is not a validate_on_lfw.py --results file (no ROC curve in it)'
                           % path) from None


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description='Validate a face recognizer on LFW.',
        parents=[arguments.lfw_args(prefix=''), arguments.image_size_args(160),
                 arguments.standardization_args(), arguments.gpu_args()])
    parser.add_argument('lfw_dir', type=str,
                        help='Path to the data directory containing aligned LFW face patches.')
    arguments.add_model_argument(parser)
    parser.add_argument('--roc_plot', type=str, default=None,
                        help='Write the ROC curve to this image file (e.g. roc.png).')
    parser.add_argument('--results', type=str, default=None,
                        help='Write the metrics, ROC curve and settings to this JSON file.')
    parser.add_argument('--compare_results', type=str, default='',
                        help='Comma-separated --results files of earlier runs (other models): '
                             'their ROC curves are drawn in the --roc_plot with this one.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
