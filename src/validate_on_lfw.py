"""Validate a face recognizer on the LFW dataset (the 10-fold view-2 pairs protocol).

Each image is run through the model; the embeddings of every pair are compared with the
classic metrics (accuracy, validation rate at FAR 1e-3, AUC, EER). Optionally writes the ROC
curve as an image (``--roc_plot``) and the metrics with the settings as JSON (``--results``).

    python src/validate_on_lfw.py ~/datasets/lfw/lfw_mtcnnpy_160 ~/models/20180408-102900 \\
        --distance_metric 1 --use_flipped_images --subtract_mean --use_fixed_image_standardization
"""
import argparse
import json
import os
import time

import lfw
from toolkit import arguments, cli, pipeline, plotting
from toolkit.inference import load_inference_model
from toolkit.errors import FacenetError
from toolkit.fileio import atomic_open, check_writable
from toolkit.session import new_session
from toolkit.tf_compat import tf


def main(args):
    """Embed the LFW pairs, print the classic metrics, write the optional plot and results."""
    # Fail on a bad extension or an unwritable output before the long forward pass.
    if args.roc_plot:
        plotting.plot_format(args.roc_plot)
        check_writable(args.roc_plot, '--roc_plot file')
    if args.results:
        check_writable(args.results, '--results file')
    pairs = lfw.read_pairs(os.path.expanduser(args.lfw_pairs))
    found = lfw.find_pair_paths(os.path.expanduser(args.lfw_dir), pairs)
    if found.nrof_skipped_pairs > 0:
        print('Skipped %d image pairs' % found.nrof_skipped_pairs)
    if args.lfw_nrof_folds < 2:
        raise FacenetError('--lfw_nrof_folds must be at least 2, got %d' % args.lfw_nrof_folds)
    if len(found.issame) < args.lfw_nrof_folds:
        raise FacenetError('%d of the %d pairs in %s have both images in %s; %d folds need at '
                           'least %d' % (len(found.issame), len(pairs), args.lfw_pairs,
                                         args.lfw_dir, args.lfw_nrof_folds, args.lfw_nrof_folds))
    embeddings, seconds = compute_embeddings(args, found.paths)
    metrics = lfw.evaluate_metrics(embeddings, found.issame, nrof_folds=args.lfw_nrof_folds,
                                   distance_metric=args.distance_metric,
                                   subtract_mean=args.subtract_mean)
    for line in lfw.metrics_lines(metrics):
        print(line)
    if args.roc_plot:
        plotting.write_roc_curve(args.roc_plot, metrics.fpr, metrics.tpr,
                                 'ROC curve on LFW (AUC = %1.3f, EER = %1.3f)'
                                 % (metrics.auc, metrics.eer))
        print('ROC curve written to %s' % args.roc_plot)
    if args.results:
        write_results(args.results, args, found, metrics, embeddings.shape[1], seconds)
        print('Results written to %s' % args.results)


def compute_embeddings(args, paths):
    """Load the model and embed ``paths`` (two per pair). Returns (embeddings, seconds)."""
    with tf.Graph().as_default():
        with new_session(gpu_memory_fraction=args.gpu_memory_fraction) as sess:
            tensors = load_inference_model(args.model, image_size=args.image_size)
            embedder = pipeline.PathEmbedder(tensors, args.image_size, args.lfw_batch_size,
                                             args.use_fixed_image_standardization)
            print('Runnning forward pass on LFW images')
            start = time.time()
            embeddings = embedder.embed(sess, paths, args.use_flipped_images,
                                        progress=pipeline.print_dots)
            seconds = time.time() - start
            print('')
    return embeddings, seconds


def write_results(path, args, found, metrics, embedding_size, seconds):
    """Write the metrics, the ROC curve and the settings of this run as JSON, atomically."""
    # Each distinct image (and its mirror image) goes through the network once.
    nrof_images = len(pipeline.distinct_paths(found.paths)) * (2 if args.use_flipped_images else 1)
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
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
