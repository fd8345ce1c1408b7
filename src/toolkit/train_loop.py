"""Pieces of the training scripts' runs: run folders, LFW checks, saving, restoring.

These print progress lines like the classic training scripts do.
"""
import collections
import os
import sys
import time

import numpy as np

import lfw
from toolkit import checkpoints, training
from toolkit.errors import FacenetError
from toolkit.fileio import store_revision_info, write_arguments_to_file
from toolkit.learning_rate import learning_rate_for_epoch, read_learning_rate_schedule

RunDirs = collections.namedtuple('RunDirs', ['subdir', 'log_dir', 'model_dir'])


def prepare_run(args, script_path, argv=None):
    """Create the timestamped log and model folders, record arguments and revision info."""
    subdir, log_dir, model_dir = training.create_run_dirs(args.logs_base_dir, args.models_base_dir)
    write_arguments_to_file(args, os.path.join(log_dir, 'arguments.txt'))
    src_path = os.path.dirname(os.path.realpath(script_path))
    store_revision_info(src_path, log_dir, ' '.join(sys.argv if argv is None else argv))
    print('Model directory: %s' % model_dir)
    print('Log directory: %s' % log_dir)
    return RunDirs(subdir, log_dir, model_dir)


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


class LfwEvaluator:
    """Embeds the LFW pair images with the training graph and runs the 10-fold evaluation.

    Args:
        batches: an ImageBatches without augmentation (fixed standardization as in training).
        images_input, phase_train, embeddings: the model's tensors.
        paths, issame: from read_lfw.
        nrof_folds, distance_metric, subtract_mean, use_flipped_images: the --lfw_* flags.
    """

    def __init__(self, batches, images_input, phase_train, embeddings, paths, issame, nrof_folds,
                 distance_metric=0, subtract_mean=False, use_flipped_images=False):
        self.batches = batches
        self.images_input = images_input
        self.phase_train = phase_train
        self.embeddings = embeddings
        self.paths = paths
        self.issame = issame
        self.nrof_folds = nrof_folds
        self.distance_metric = distance_metric
        self.subtract_mean = subtract_mean
        self.use_flipped_images = use_flipped_images

    def embed(self, sess):
        """One row per pair image; flipped copies are concatenated to their originals."""
        nrof_flips = 2 if self.use_flipped_images else 1
        paths = np.repeat(np.array(self.paths), nrof_flips)
        flips = np.arange(len(paths)) % 2 == 1 if self.use_flipped_images else None
        self.batches.start(sess, paths, np.arange(len(paths)), flips)
        rows = []
        for i, (images, _) in enumerate(self.batches.batches(sess)):
            rows.append(sess.run(self.embeddings, {self.images_input: images,
                                                   self.phase_train: False}))
            if i % 10 == 9:
                print('.', end='', flush=True)
        print('')
        emb = np.concatenate(rows)
        return emb.reshape(len(self.paths), -1)  # flipped rows follow their originals

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
