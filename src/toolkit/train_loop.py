"""Pieces of the training scripts' runs: run folders, LFW checks, saving, restoring.

These print progress lines like the classic training scripts do.
"""
import collections
import contextlib
import os
import sys
import time

import numpy as np

import lfw
from toolkit import checkpoints, fileio, pipeline, training
from toolkit.errors import FacenetError
from toolkit.learning_rate import learning_rate_for_epoch, read_learning_rate_schedule
from toolkit.model_io import ModelTensors

RunDirs = collections.namedtuple('RunDirs', ['subdir', 'log_dir', 'model_dir', 'folders'])


@contextlib.contextmanager
def prepare_run(args, script_path, argv=None):
    """Create the timestamped log and model folders, record arguments and revision info.

    A context manager yielding the RunDirs. Until ``run.folders.keep()`` (call it when
    training starts) a failure removes the folders again, so a run stopped by a bad input
    (e.g. a pretrained model that does not fit) leaves nothing behind. While it is open the
    model folder is locked, and the hidden temporary files of checkpoint saves that killed
    runs abandoned in other folders of --models_base_dir are removed.
    """
    subdir, log_dir, model_dir = training.run_dir_names(args.logs_base_dir, args.models_base_dir)
    with fileio.NewFolders([log_dir, model_dir], 'run folder') as folders, \
            checkpoints.ModelDirLock(model_dir):
        removed = checkpoints.remove_abandoned_saves(os.path.expanduser(args.models_base_dir))
        if removed.files:
            print('Removed %d temporary files (%.1f MB) of checkpoint saves that killed runs '
                  'left' % (removed.files, removed.bytes / 1e6))
        fileio.write_arguments_to_file(args, os.path.join(log_dir, 'arguments.txt'))
        src_path = os.path.dirname(os.path.realpath(script_path))
        fileio.store_revision_info(src_path, log_dir, ' '.join(sys.argv if argv is None else argv))
        print('Model directory: %s' % model_dir)
        print('Log directory: %s' % log_dir)
        yield RunDirs(subdir, log_dir, model_dir, folders)


def read_schedule(args):
    """The parsed schedule file when --learning_rate is negative, else None (checked early)."""
    if args.learning_rate > 0.0:
        return None
    return read_learning_rate_schedule(os.path.expanduser(args.learning_rate_schedule_file))


def epoch_learning_rate(args, schedule, epoch):
    """--learning_rate, or the schedule's rate for ``epoch`` (<= 0: stop training)."""
    return args.learning_rate if schedule is None else learning_rate_for_epoch(schedule, epoch)


def read_lfw(args):
    """``(paths, issame)`` of the LFW pairs found under --lfw_dir, or None without --lfw_dir."""
    if not args.lfw_dir:
        return None
    lfw_dir = os.path.expanduser(args.lfw_dir)
    if not os.path.isdir(lfw_dir):
        raise FacenetError('--lfw_dir not found: %s' % args.lfw_dir)
    pairs = lfw.read_pairs(os.path.expanduser(args.lfw_pairs))
    paths, issame = lfw.get_paths(lfw_dir, pairs)
    if len(issame) < args.lfw_nrof_folds:
        raise FacenetError('only %d LFW pairs found in %s; --lfw_nrof_folds %d needs at least as '
                           'many' % (len(issame), args.lfw_dir, args.lfw_nrof_folds))
    print('LFW directory: %s (%d pairs)' % (args.lfw_dir, len(issame)))
    return paths, issame


def restore_pretrained(sess, path, variables):
    """Restore a pretrained checkpoint by name, telling what was left initialized."""
    report = checkpoints.restore_pretrained(sess, path, variables)
    print('Restored %d variables from pretrained model %s'
          % (len(report.restored), report.checkpoint))
    if report.skipped:
        print('Not restored (trained from scratch): %s'
              % '; '.join('%s (%s)' % item for item in report.skipped))
    return report


def save_checkpoint(sess, writer, summary_writer, step):
    """Save variables (and the metagraph once), with the classic timing summaries."""
    print('Saving variables')
    start_time = time.time()
    writer.save(sess, step)
    save_time_variables = time.time() - start_time
    print('Variables saved in %.2f seconds' % save_time_variables)
    start_time = time.time()
    save_time_metagraph = 0.0
    if writer.save_metagraph():
        save_time_metagraph = time.time() - start_time
        print('Metagraph saved in %.2f seconds' % save_time_metagraph)
    training.add_summary_values(summary_writer, step, {
        'time/save_variables': save_time_variables, 'time/save_metagraph': save_time_metagraph})


def build_lfw_evaluator(args, lfw_pairs, images, embeddings, phase_train, image_size,
                        fixed_standardization=False, nrof_threads=pipeline.DEFAULT_NROF_THREADS):
    """An LfwEvaluator on the training graph for the --lfw_* flags, or None without pairs.

    Builds its reader in the default graph, so call it while the graph is being built.
    """
    if not lfw_pairs:
        return None
    embedder = pipeline.PathEmbedder(ModelTensors(images, embeddings, phase_train), image_size,
                                     args.lfw_batch_size, fixed_standardization, nrof_threads)
    return LfwEvaluator(embedder, *lfw_pairs, args.lfw_nrof_folds, args.lfw_distance_metric,
                        args.lfw_subtract_mean, args.lfw_use_flipped_images)


class LfwEvaluator:
    """Embeds the LFW pair images with the training graph and runs the 10-fold evaluation.

    Args:
        embedder: a PathEmbedder on the training graph's input, phase_train and embeddings
            (standardization as in training).
        paths, issame: from read_lfw.
        nrof_folds, distance_metric, subtract_mean, use_flipped_images: the --lfw_* flags.
    """

    def __init__(self, embedder, paths, issame, nrof_folds, distance_metric=0,
                 subtract_mean=False, use_flipped_images=False):
        self.embedder = embedder
        self.paths = paths
        self.issame = issame
        self.nrof_folds = nrof_folds
        self.distance_metric = distance_metric
        self.subtract_mean = subtract_mean
        self.use_flipped_images = use_flipped_images

    def embed(self, sess):
        """One row per pair image; flipped embeddings are concatenated to their originals."""
        embeddings = self.embedder.embed(sess, self.paths, self.use_flipped_images,
                                         pipeline.print_dots)
        print('')
        return embeddings

    def evaluate(self, sess):
        """Returns ``(mean accuracy, val, val_std, far, seconds)`` and prints them."""
        start_time = time.time()
        print('Running forward pass on LFW images')
        embeddings = self.embed(sess)
        _, _, accuracy, val, val_std, far = lfw.evaluate(
            embeddings, self.issame, nrof_folds=self.nrof_folds,
            distance_metric=self.distance_metric, subtract_mean=self.subtract_mean)
        print('Accuracy: %2.5f+-%2.5f' % (np.mean(accuracy), np.std(accuracy)))
        print('Validation rate: %2.5f+-%2.5f @ FAR=%2.5f' % (val, val_std, far))
        return float(np.mean(accuracy)), val, val_std, far, time.time() - start_time

    def evaluate_and_log(self, sess, log_dir, summary_writer, step):
        """evaluate(), then the classic lfw summaries and ``lfw_result.txt`` line."""
        accuracy, val, _, _, seconds = self.evaluate(sess)
        training.add_summary_values(summary_writer, step, {
            'lfw/accuracy': accuracy, 'lfw/val_rate': val, 'time/lfw': seconds})
        with open(os.path.join(log_dir, 'lfw_result.txt'), 'at') as handle:
            handle.write('%d\t%.5f\t%.5f\n' % (step, accuracy, val))
        return accuracy, val
