"""Pieces of the training scripts' runs: run folders, LFW checks, saving, restoring.

Progress lines like the classic training scripts' go to a ``log`` callable (the scripts
pass ``print``).
"""
import collections
import contextlib
import os
import sys
import time

import numpy as np

from toolkit import fileio
from toolkit.errors import FacenetError
from toolkit.evaluation import lfw
from toolkit.fileio import repository_file
from toolkit.inference import path_embedder
from toolkit.progress import Progress
from toolkit.training import checkpoints, towers
from toolkit.training.learning_rate import learning_rate_for_epoch, read_learning_rate_schedule

RunDirs = collections.namedtuple('RunDirs', ['subdir', 'log_dir', 'model_dir', 'folders'])


def check_run_folders(logs_base_dir, models_base_dir):
    """OutputError now, before the graph is built, when a run folder could not be made."""
    fileio.check_writable(logs_base_dir, '--logs_base_dir', directory=True)
    fileio.check_writable(models_base_dir, '--models_base_dir', directory=True)


@contextlib.contextmanager
def prepare_run(logs_base_dir, models_base_dir, arguments, script_path, argv, log,
                run_name=None):
    """Create the timestamped log and model folders, record arguments and revision info.

    With ``run_name`` (``--run_name``) the folders are ``<base>/<run_name>`` and may exist
    already: a resumed run writes on into them.

    A context manager yielding the RunDirs. Until ``run.folders.keep()`` (call it when
    training starts) a failure removes the folders again, so a run stopped by a bad input
    (e.g. a pretrained model that does not fit) leaves nothing behind. While it is open the
    model folder is locked, and the hidden temporary files of checkpoint saves that killed
    runs abandoned in other folders of ``models_base_dir`` are removed.

    Args:
        arguments: ``{flag name: value}`` written to ``arguments.txt``.
        script_path: the training script (the git revision of its folder is recorded).
        argv: the command line for ``revision_info.txt`` (None: this process's).
        log: callable taking one line of text.
    """
    subdir, log_dir, model_dir = towers.run_dir_names(logs_base_dir, models_base_dir,
                                                      subdir=run_name)
    with fileio.NewFolders([log_dir, model_dir], 'run folder') as folders, \
            checkpoints.ModelDirLock(model_dir):
        removed = checkpoints.remove_abandoned_saves(os.path.expanduser(models_base_dir),
                                                      os.path.expanduser(logs_base_dir))
        if removed.files:
            log('Removed %d temporary files (%.1f MB) of checkpoint saves that killed runs '
                'left' % (removed.files, removed.bytes / 1e6))
        fileio.write_arguments_to_file(arguments, os.path.join(log_dir, 'arguments.txt'))
        src_path = os.path.dirname(os.path.realpath(script_path))
        fileio.store_revision_info(src_path, log_dir, ' '.join(sys.argv if argv is None else argv))
        log('Model directory: %s' % model_dir)
        log('Log directory: %s' % log_dir)
        yield RunDirs(subdir, log_dir, model_dir, folders)


def find_resume(models_base_dir, run_name, log):
    """The training state a ``--run_name`` run goes on from: ``(prefix, epochs done)``, or
    None (no run name, or the run has saved none yet: it starts from the beginning)."""
    if not run_name:
        return None
    model_dir = os.path.join(os.path.expanduser(models_base_dir), run_name)
    found = checkpoints.newest_training_state(model_dir)
    if found:
        log('Resuming run %s after epoch %d from %s' % (run_name, found[1], found[0]))
    else:
        log('Run %s has no training state in %s: starting it' % (run_name, model_dir))
    return found


def restore_start(sess, state, resume, pretrained_model, variables, log, skip_scopes=()):
    """Restore where training starts from: the training state ``resume`` (from find_resume)
    into ``state`` (a TrainingState), else ``pretrained_model`` when given.

    Returns:
        The number of epochs already done (0 unless resuming).
    """
    if resume:
        if pretrained_model:
            log('Not reading --pretrained_model: the resumed run has its own state')
        state.restore(sess, resume[0])
        return resume[1]
    if pretrained_model:
        restore_pretrained(sess, pretrained_model, variables, log, skip_scopes)
    return 0


def read_schedule(learning_rate, schedule_file):
    """The parsed schedule file when ``learning_rate`` is negative, else None (checked early)."""
    if learning_rate > 0.0:
        return None
    return read_learning_rate_schedule(repository_file(schedule_file))


def epoch_learning_rate(learning_rate, schedule, epoch):
    """``learning_rate``, or the schedule's rate for ``epoch`` (<= 0: stop training)."""
    return learning_rate if schedule is None else learning_rate_for_epoch(schedule, epoch)


def read_lfw(options, log):
    """``(paths, issame)`` of the LFW pairs found under ``options.lfw_dir`` (an LfwOptions),
    or None without a folder."""
    if not options.lfw_dir:
        return None
    lfw.require_folds(options.nrof_folds)
    lfw_dir = os.path.expanduser(options.lfw_dir)
    if not os.path.isdir(lfw_dir):
        raise FacenetError('--lfw_dir not found: %s' % options.lfw_dir)
    pairs = lfw.read_pairs(repository_file(options.pairs_file))
    paths, issame = lfw.get_paths(lfw_dir, pairs)
    if len(issame) < options.nrof_folds:
        raise FacenetError('only %d LFW pairs found in %s; --lfw_nrof_folds %d needs at least as '
                           'many' % (len(issame), options.lfw_dir, options.nrof_folds))
    log('LFW directory: %s (%d pairs)' % (options.lfw_dir, len(issame)))
    return paths, issame


def restore_pretrained(sess, path, variables, log, skip_scopes=()):
    """Restore a pretrained checkpoint by name, telling what was left initialized."""
    report = checkpoints.restore_pretrained(sess, path, variables, skip_scopes=skip_scopes)
    log('Restored %d variables from pretrained model %s' % (len(report.restored), report.checkpoint))
    if report.skipped:
        log('Not restored (trained from scratch): %s'
            % '; '.join('%s (%s)' % item for item in report.skipped))
    return report


def mean_over_images(sess, batches, paths, labels, evaluate, progress=None):
    """Image-weighted mean of per-batch figures over a list of image files.

    Args:
        batches: an ImageBatches reader on the session's graph (started here).
        evaluate: ``evaluate(images, labels)`` -> the batch's mean figure(s), e.g. losses
            and accuracy of the batch.
        progress: optional ``progress(nrof_images_done, nrof_images)`` after each batch.

    Returns:
        float or array: each figure averaged over every image.
    """
    batches.start(sess, paths, labels)
    totals = 0.0
    nrof_done = 0
    for images, batch_labels in batches.batches(sess):
        totals = totals + np.asarray(evaluate(images, batch_labels), np.float64) * len(batch_labels)
        nrof_done += len(batch_labels)
        if progress:
            progress(nrof_done, len(labels))
    return totals / len(labels)


def save_checkpoint(sess, writer, summary_writer, step, log, state=None, epoch=None):
    """Save variables (and the metagraph once), with the classic timing summaries; then the
    training ``state`` (a TrainingState) after ``epoch`` complete epochs, when given."""
    log('Saving variables')
    start_time = time.time()
    writer.save(sess, step)
    if state:
        state.save(sess, epoch)
    save_time_variables = time.time() - start_time
    log('Variables saved in %.2f seconds' % save_time_variables)
    start_time = time.time()
    save_time_metagraph = 0.0
    if writer.save_metagraph():
        save_time_metagraph = time.time() - start_time
        log('Metagraph saved in %.2f seconds' % save_time_metagraph)
    towers.add_summary_values(summary_writer, step, {
        'time/save_variables': save_time_variables, 'time/save_metagraph': save_time_metagraph})


def build_lfw_evaluator(options, lfw_pairs, tensors, image_size, log,
                        fixed_standardization=False, nrof_threads=path_embedder.DEFAULT_NROF_THREADS):
    """An LfwEvaluator on the training graph, or None without pairs.

    Builds its reader in the default graph, so call it while the graph is being built.

    Args:
        options: an LfwOptions.
        lfw_pairs: from read_lfw.
        tensors: the ModelTensors (input, embeddings, phase_train) of the inference tower.
        log: callable taking one line of text.
    """
    if not lfw_pairs:
        return None
    embedder = path_embedder.PathEmbedder(tensors, image_size, options.batch_size,
                                          fixed_standardization, nrof_threads)
    return LfwEvaluator(embedder, *lfw_pairs, options.nrof_folds, options.distance_metric,
                        options.subtract_mean, options.use_flipped_images, log)


class LfwEvaluator:
    """Embeds the LFW pair images with the training graph and runs the 10-fold evaluation.

    Args:
        embedder: a PathEmbedder on the training graph's input, phase_train and embeddings
            (standardization as in training).
        paths, issame: from read_lfw.
        nrof_folds, distance_metric, subtract_mean, use_flipped_images: the --lfw_* flags.
        log: callable taking one line of text (the forward pass shows a Progress).
    """

    def __init__(self, embedder, paths, issame, nrof_folds, distance_metric=0,
                 subtract_mean=False, use_flipped_images=False, log=None):
        self.embedder = embedder
        self.paths = paths
        self.issame = issame
        self.nrof_folds = nrof_folds
        self.distance_metric = distance_metric
        self.subtract_mean = subtract_mean
        self.use_flipped_images = use_flipped_images
        self.log = log or (lambda line: None)

    def embed(self, sess):
        """One row per pair image; flipped embeddings are concatenated to their originals."""
        nrof_images = path_embedder.nrof_network_images(self.paths, self.use_flipped_images)
        with Progress(nrof_images, 'LFW forward pass') as progress:
            return self.embedder.embed(sess, self.paths, self.use_flipped_images, progress)

    def evaluate(self, sess):
        """Returns ``(mean accuracy, val, val_std, far, seconds)`` and logs them."""
        start_time = time.time()
        self.log('Running forward pass on LFW images')
        embeddings = self.embed(sess)
        _, _, accuracy, val, val_std, far = lfw.evaluate(
            embeddings, self.issame, nrof_folds=self.nrof_folds,
            distance_metric=self.distance_metric, subtract_mean=self.subtract_mean)
        self.log('Accuracy: %2.5f+-%2.5f' % (np.mean(accuracy), np.std(accuracy)))
        self.log('Validation rate: %2.5f+-%2.5f @ FAR=%2.5f' % (val, val_std, far))
        return float(np.mean(accuracy)), val, val_std, far, time.time() - start_time

    def evaluate_and_log(self, sess, log_dir, summary_writer, step):
        """evaluate(), then the classic lfw summaries and ``lfw_result.txt`` line."""
        accuracy, val, _, _, seconds = self.evaluate(sess)
        towers.add_summary_values(summary_writer, step, {
            'lfw/accuracy': accuracy, 'lfw/val_rate': val, 'time/lfw': seconds})
        with open(os.path.join(log_dir, 'lfw_result.txt'), 'at') as handle:
            handle.write('%d\t%.5f\t%.5f\n' % (step, accuracy, val))
        return accuracy, val
