"""Train a face recognizer with softmax cross-entropy (plus center loss and prelogits norm).

Classic usage (CASIA-WebFace recipe)::

    python src/train_softmax.py --logs_base_dir ~/logs/facenet/ --models_base_dir ~/models/facenet/ \\
        --data_dir ~/datasets/casia/casia_maxpy_mtcnnalign_182_160/ --image_size 160 \\
        --model_def models.inception_resnet_v1 --lfw_dir ~/datasets/lfw/lfw_mtcnnalign_160/ \\
        --optimizer ADAM --learning_rate -1 --max_nrof_epochs 150 --keep_probability 0.8 \\
        --random_crop --random_flip --use_fixed_image_standardization \\
        --learning_rate_schedule_file data/learning_rate_schedule_classifier_casia.txt \\
        --weight_decay 5e-4 --embedding_size 512 --lfw_distance_metric 1 --lfw_use_flipped_images \\
        --lfw_subtract_mean --validation_set_split_ratio 0.05 --validate_every_n_epochs 5 \\
        --prelogits_norm_loss_factor 5e-4

Fine-tuning a pretrained model on new identities, in two stages::

    python src/train_softmax.py --pretrained_model ~/models/facenet/20170512-110547 \\
        --trainable_scopes Logits ...            # 1. only the new classifier
    python src/train_softmax.py --pretrained_model ~/models/facenet/<stage 1 run> ...  # 2. all

Each run writes ``<logs_base_dir>/<yyyymmdd-hhmmss>/`` (arguments.txt, revision_info.txt,
stat.h5, lfw_result.txt, TensorBoard events) and ``<models_base_dir>/<yyyymmdd-hhmmss>/``
(``model-<subdir>.meta`` and ``model-<subdir>.ckpt-<epoch>`` checkpoints).
"""
from __future__ import annotations  # dataclass fields typed tf.Tensor: read lazily
import argparse
import contextlib
import dataclasses
import os
import random
import time

import numpy as np

import models
from toolkit import cli
from toolkit.cli import arguments
from toolkit.data import folders, training_sets
from toolkit.data.filtering import filter_dataset
from toolkit.data.input_pipeline import Augmentation, ImageBatches
from toolkit.modelfiles import metadata
from toolkit.modelfiles.loading import ModelTensors
from toolkit.nets.cross_replica import mean_over_replicas
from toolkit.nets.layers import Layers
from toolkit.progress import Progress
from toolkit.tf_compat import tf
from toolkit.training import runs, towers as training
from toolkit.training.checkpoints import (CheckpointWriter, StopRequest, TrainingState,
                                          resolve_pretrained)
from toolkit.training.distribute import Replicas, StopAgreement
from toolkit.training.losses import accuracy, center_loss, prelogits_norm, softmax_cross_entropy
from toolkit.training.options import parse_scopes

SUMMARY_EVERY_N_STEPS = 100


@dataclasses.dataclass(frozen=True)
class SoftmaxLosses:
    """Classifier losses of one tower (built by ``softmax_losses``)."""
    prelogits_norm: tf.Tensor
    center_loss: tf.Tensor
    update_centers: tf.Tensor  # running it moves the centers of the batch's classes
    reg_loss: tf.Tensor
    cross_entropy: tf.Tensor
    accuracy: tf.Tensor
    total_loss: tf.Tensor


@dataclasses.dataclass(frozen=True)
class SoftmaxGraph:
    """The tensors of the softmax training graph (built by ``build_graph``)."""
    global_step: tf.Variable
    learning_rate_input: tf.Tensor  # the epoch's base rate, fed
    learning_rate: tf.Tensor  # decayed
    phase_train: tf.Tensor
    train_batches: ImageBatches
    eval_batches: ImageBatches
    inference: training.InferenceTower
    train_images: tf.Tensor  # image_batch: this worker's part of the global batch
    labels: tf.Tensor  # label_batch
    train_prelogits: tf.Tensor  # of the training tower(s), in the order of train_images
    val_labels: tf.Tensor
    validation: SoftmaxLosses  # on the inference tower (fed val_labels)
    training: SoftmaxLosses  # on the training towers, each figure the mean over all replicas
    train_op: tf.Operation
    saved_variables: list
    state_variables: list  # every variable of the graph: the training state
    saver: tf.train.Saver
    summary_op: tf.Tensor
    stop_request: tf.Tensor = None  # multi-worker runs: see Replicas.stop_vote
    any_stop_request: tf.Tensor = None


def softmax_losses(args, prelogits, labels, nrof_classes, weight_decay=None):
    """The classifier and the classic losses on one tower's prelogits.

    The first call creates the ``Logits`` and ``centers`` variables; call it again over
    reused variables for a further tower. The regularization loss is the weight decay
    (``weight_decay``, default the collection's) plus this tower's center loss and prelogits
    norm, as the classic ``reg_loss``.
    """
    logits = Layers(True, args.weight_decay).fully_connected(
        prelogits, nrof_classes, scope='Logits', normalize=False)  # batch x nrof_classes
    norm = prelogits_norm(prelogits, args.prelogits_norm_p)
    center, update_centers = center_loss(prelogits, labels, args.center_loss_alfa,
                                         nrof_classes, update_with_loss=False)
    if weight_decay is None:
        weight_decay = tf.get_collection(tf.GraphKeys.REGULARIZATION_LOSSES)
    reg_loss = tf.add_n(list(weight_decay) + [norm * args.prelogits_norm_loss_factor,
                                              center * args.center_loss_factor], name='reg_loss')
    cross_entropy = softmax_cross_entropy(logits, labels)
    return SoftmaxLosses(norm, center, update_centers, reg_loss, cross_entropy,
                         accuracy(logits, labels),
                         tf.add(cross_entropy, reg_loss, name='total_loss'))


_REPORTED = ('prelogits_norm', 'center_loss', 'reg_loss', 'cross_entropy', 'accuracy',
             'total_loss')


def build_graph(args, network, nrof_classes, replicas=None, dtype='float32'):
    """Input pipelines, towers, classifier, losses and the train op, in the default graph.

    The inference tower (``input``, ``phase_train``, ``embeddings`` and the network under its
    classic names) serves validation, LFW evaluation and the saved ``.meta``; its losses sit
    in name scope ``validation``. The training tower (see ``training.build_training_tower``)
    reads the input pipeline through ``image_batch``/``label_batch`` and carries the classic
    ``total_loss``, ``cross_entropy`` and the train op. With ``replicas`` (a
    distribute.Replicas) on several devices or workers, each replica builds a training tower
    on its slice of the batch. ``dtype``: the network's float type (see NetworkOptions).
    """
    replicas = replicas or Replicas()
    local_batch_size = replicas.local_batch_size(args.batch_size)
    size = args.image_size
    with replicas.scope():
        global_step = training.global_step_variable()
        learning_rate_input = tf.placeholder(tf.float32, name='learning_rate')
        phase_train = tf.placeholder(tf.bool, name='phase_train')
        augmentation = Augmentation(args.random_crop, args.random_flip, args.random_rotate,
                                    args.use_fixed_image_standardization)
        train_batches = ImageBatches(size, local_batch_size, augmentation,
                                     args.nrof_preprocess_threads, shuffle_and_repeat=True,
                                     skip_unreadable=True, seed=args.seed, name='train_data',
                                     shard=replicas.shard)
        eval_batches = ImageBatches(
            size, args.lfw_batch_size,
            Augmentation(fixed_standardization=args.use_fixed_image_standardization),
            args.nrof_preprocess_threads, name='eval_data')
        options = arguments.network_options(args, dtype)
        inference = training.build_inference_tower(network, options, phase_train, log=print)
        train_images, labels = training.training_input(train_batches, size)
        val_labels = tf.placeholder(tf.int64, [None], name='labels')
        with tf.name_scope('validation'):
            validation = softmax_losses(args, inference.prelogits, val_labels, nrof_classes)
        step = training.make_replica_step(
            network, options, replicas, global_step, learning_rate_input, args.optimizer,
            args.learning_rate_decay_epochs, args.epoch_size, args.learning_rate_decay_factor)

        def replica_step():
            with step.tower(train_images) as (prelogits, weight_decay):
                losses = softmax_losses(args, prelogits, replicas.replica_slice(labels),
                                        nrof_classes, weight_decay)
            update, grads = step.update(losses.total_loss)
            with tf.control_dependencies([update, losses.update_centers]):
                update = tf.no_op()
            means = mean_over_replicas({name: getattr(losses, name) for name in _REPORTED})
            return (update, dataclasses.replace(losses, **means), prelogits, grads,
                    replicas.stop_vote())

        steps = replicas.for_each_replica(replica_step)
        update_ops, reported, replica_prelogits, grads, stop_votes = zip(*steps)
        losses = reported[0]
        tf.add_to_collection('losses', losses.cross_entropy)
        training.scalar_summary('accuracy', losses.accuracy)
        train_op = training.finish_train_op(
            update_ops,
            [('cross_entropy', losses.cross_entropy), ('total_loss', losses.total_loss)],
            global_step, args.moving_average_decay, step.update_variables, grads[0],
            args.log_histograms)
        train_prelogits = (replica_prelogits[0] if len(replica_prelogits) == 1
                           else tf.concat(replica_prelogits, 0))
        # Like the classic checkpoints: every trainable variable (batch-norm statistics included).
        saved_variables = tf.trainable_variables()
        saver = tf.train.Saver(saved_variables, max_to_keep=3)
    return SoftmaxGraph(global_step, learning_rate_input, step.learning_rate, phase_train,
                        train_batches, eval_batches, inference, train_images, labels,
                        train_prelogits, val_labels, validation, losses, train_op,
                        saved_variables, tf.global_variables(), saver, tf.summary.merge_all(),
                        *stop_votes[0])


def train_one_epoch(args, sess, g, epoch, lr, stats, summary_writer, stop, run_options=None,
                    with_summaries=True):
    """Run --epoch_size training steps at base learning rate ``lr``; stops early on request
    (``stop``: a StopAgreement).

    ``run_options`` bound each step (multi-worker runs); ``with_summaries``: fetch the
    TensorBoard summaries every SUMMARY_EVERY_N_STEPS steps (the chief).
    """
    t = g.training
    fetches = {'train': g.train_op, 'loss': t.total_loss, 'reg_loss': t.reg_loss,
               'prelogits': g.train_prelogits, 'xent': t.cross_entropy, 'lr': g.learning_rate,
               'prelogits_norm': t.prelogits_norm, 'accuracy': t.accuracy,
               'center_loss': t.center_loss, 'step': g.global_step}
    feed_dict = {g.learning_rate_input: lr}
    train_time = 0.0
    for batch_number in range(args.epoch_size):
        start_time = time.time()
        stop.add_to_step(fetches, feed_dict)
        with_summary = with_summaries and batch_number % SUMMARY_EVERY_N_STEPS == 0
        out = sess.run(dict(fetches, summary=g.summary_op) if with_summary else fetches, feed_dict,
                       options=run_options)
        duration = time.time() - start_time
        step = out['step']
        if with_summary:
            summary_writer.add_summary(out['summary'], step)
            training.add_summary_values(summary_writer, step, {'time/step': duration})
        index = (epoch - 1) * args.epoch_size + batch_number
        for name in ('loss', 'center_loss', 'reg_loss', 'prelogits_norm', 'accuracy'):
            stats[name][index] = out[name]
        stats['xent_loss'][index] = out['xent']
        stats['learning_rate'][epoch - 1] = out['lr']
        stats['prelogits_hist'][epoch - 1, :] += np.histogram(
            np.minimum(np.abs(out['prelogits']), args.prelogits_hist_max), bins=1000,
            range=(0.0, args.prelogits_hist_max))[0]
        print('Epoch: [%d][%d/%d]\tTime %.3f\tLoss %2.3f\tXent %2.3f\tRegLoss %2.3f\tAccuracy %2.3f'
              '\tLr %2.5f\tCl %2.3f' % (epoch, batch_number + 1, args.epoch_size, duration,
                                        out['loss'], out['xent'], out['reg_loss'], out['accuracy'],
                                        out['lr'], out['center_loss']))
        train_time += duration
        stop.count(out)
        if stop.requested:
            break
    training.add_summary_values(summary_writer, sess.run(g.global_step), {'time/total': train_time})


def inference_figures(sess, g, tensors):
    """``evaluate(images, labels)`` for runs.mean_over_images: ``tensors`` of the
    validation losses, computed in inference mode."""
    def evaluate(images, labels):
        return sess.run(tensors, {g.inference.images: images, g.val_labels: labels,
                                  g.phase_train: False})
    return evaluate


def validate(args, sess, g, epoch, val_paths, val_labels, stats, summary_writer):
    """Loss and accuracy on the validation split (inference mode), batch-size weighted."""
    print('Running forward pass on validation set')
    start_time = time.time()
    v = g.validation
    with Progress(len(val_labels), 'Validation') as progress:
        loss, xent, acc = runs.mean_over_images(
            sess, g.eval_batches, val_paths, val_labels,
            inference_figures(sess, g, [v.total_loss, v.cross_entropy, v.accuracy]), progress)
    val_index = (epoch - 1) // args.validate_every_n_epochs
    stats['val_loss'][val_index], stats['val_xent_loss'][val_index] = loss, xent
    stats['val_accuracy'][val_index] = acc
    training.add_summary_values(summary_writer, sess.run(g.global_step), {
        'val/loss': loss, 'val/xent_loss': xent, 'val/accuracy': acc})
    print('Validation Epoch: %d\tTime %.3f\tLoss %2.3f\tXent %2.3f\tAccuracy %2.3f'
          % (epoch, time.time() - start_time, loss, xent, acc))


def test(args, sess, g, epoch, test_set, stats, summary_writer):
    """Top-1 accuracy of the classifier on the --test_dir images (inference mode)."""
    start_time = time.time()
    with Progress(len(test_set[1]), 'Test set') as progress:
        acc = runs.mean_over_images(sess, g.eval_batches, *test_set,
                                    inference_figures(sess, g, g.validation.accuracy), progress)
    stats['test_accuracy'][(epoch - 1) // args.validate_every_n_epochs] = acc
    training.add_summary_values(summary_writer, sess.run(g.global_step), {'test/accuracy': acc})
    print('Test Epoch: %d\tTime %.3f\tTop-1 accuracy %2.3f (%d images)'
          % (epoch, time.time() - start_time, acc, len(test_set[1])))


def load_splits(args):
    """The training and validation sets, checked before anything is written."""
    with Progress(0, 'Checking training images') as progress:
        dataset = training_sets.load_training_set(args.data_dir, print, progress)
    if args.filter_filename:
        dataset = filter_dataset(dataset, os.path.expanduser(args.filter_filename),
                                 args.filter_percentile, args.filter_min_nrof_images_per_class)
    training_sets.require_classes(dataset, args.data_dir)
    if args.validation_set_split_ratio > 0.0:
        train_set, val_set = folders.split_dataset(dataset, args.validation_set_split_ratio,
                                                   args.min_nrof_val_images_per_class, 'SPLIT_IMAGES')
        training_sets.require_classes(train_set, args.data_dir + ' (after the validation split)')
    else:
        train_set, val_set = dataset, []
    training_sets.require_image_size(train_set, args.image_size, args.random_crop)
    return train_set, val_set


def single_device_metagraph(args, network, nrof_classes):
    """The MetaGraphDef of this run's graph built for one device: a distributed run writes it
    as its ``.meta``, so loaders see exactly what a single-device run saves."""
    with tf.Graph().as_default():
        tf.set_random_seed(args.seed)
        return build_graph(args, network, nrof_classes).saver.export_meta_graph()


def run_training(args, argv=None):
    """Check the inputs and build the graph, then create the run folders and train.

    Returns:
        The model directory (None on a worker other than the chief, which writes nothing).
    """
    replicas = Replicas.from_flags(args.devices, args.num_gpus, os.environ.get('TF_CONFIG'),
                                   args.worker_timeout)
    runs.check_run_folders(args.logs_base_dir, args.models_base_dir)
    resume = runs.find_resume(args.models_base_dir, args.run_name, print)
    network = models.import_network(args.model_def)
    schedule = runs.read_schedule(args.learning_rate, args.learning_rate_schedule_file)
    if args.pretrained_model:
        resolve_pretrained(args.pretrained_model)
        cli.resolve_standardization(args, args.pretrained_model)  # fine-tune as it was trained
    args.use_fixed_image_standardization = bool(args.use_fixed_image_standardization)
    np.random.seed(seed=args.seed)
    random.seed(args.seed)
    train_set, val_set = load_splits(args)
    test_set = training_sets.load_test_set(args.test_dir, train_set) if args.test_dir else None
    lfw_pairs = runs.read_lfw(arguments.lfw_options(args), print)
    image_list, label_list = folders.get_image_paths_and_labels(train_set)
    val_image_list, val_label_list = folders.get_image_paths_and_labels(val_set)
    print(replicas.describe())
    replicas.connect(args.gpu_memory_fraction)
    # The chief's run folders (prepare_run) stay open, and locked, until training ends.
    with tf.Graph().as_default(), contextlib.ExitStack() as outputs:
        tf.set_random_seed(args.seed)
        print('Building training graph')
        g = build_graph(args, network, len(train_set), replicas)
        lfw_evaluator = runs.build_lfw_evaluator(
            arguments.lfw_options(args), lfw_pairs,
            ModelTensors(g.inference.images, g.inference.embeddings, g.phase_train),
            args.image_size, print, args.use_fixed_image_standardization,
            args.nrof_preprocess_threads)
        run = writer = None
        if replicas.is_chief:
            run = outputs.enter_context(runs.prepare_run(
                args.logs_base_dir, args.models_base_dir, vars(args), __file__, argv, print,
                args.run_name))
            metadata.write_model_metadata(
                run.model_dir, metadata.standardization_name(args.use_fixed_image_standardization),
                args.embedding_size)
            metagraph = (single_device_metagraph(args, network, len(train_set))
                         if replicas.distributed else None)
            writer = CheckpointWriter(g.saver, run.model_dir, run.subdir, metagraph=metagraph)
        state = TrainingState(g.state_variables, run and run.model_dir, run and run.subdir)
        print('Number of classes in training set: %d' % len(train_set))
        print('Number of examples in training set: %d' % len(image_list))
        print('Number of classes in validation set: %d' % len(val_set))
        print('Number of examples in validation set: %d' % len(val_image_list))
        with replicas.new_session(args.gpu_memory_fraction) as sess, replicas.faults_reported():
            sess.run(tf.global_variables_initializer(), options=replicas.run_options())
            sess.run(tf.local_variables_initializer())
            epochs_done = runs.restore_start(sess, state, resume, args.pretrained_model,
                                             g.saved_variables, print,
                                             ['Logits'] if args.load_without_fc else [])
            replicas.check_same_epoch(sess, (g.stop_request, g.any_stop_request), epochs_done)
            g.train_batches.start(sess, image_list, label_list)  # this worker's shard of it
            summary_writer = (tf.summary.FileWriter(run.log_dir, sess.graph) if run
                              else training.NoSummaryWriter())
            if run:
                run.folders.keep()  # training starts: from here on its outputs stay
            try:
                train_epochs(args, sess, g, RunOutputs(run, writer, state, summary_writer),
                             replicas, schedule, (val_image_list, val_label_list), test_set,
                             lfw_evaluator, epochs_done)
            finally:
                summary_writer.close()
    return run.model_dir if run else None


@dataclasses.dataclass(frozen=True)
class RunOutputs:
    """Where a run writes (all None but ``state`` and ``summary_writer`` on a worker that
    is not the chief)."""
    run: runs.RunDirs
    writer: CheckpointWriter
    state: TrainingState
    summary_writer: object  # a tf.summary.FileWriter or a training.NoSummaryWriter


def train_epochs(args, sess, g, outputs, replicas, schedule, validation_set, test_set,
                 lfw_evaluator, epochs_done=0):
    """The epoch loop: train, validate (and test), save, evaluate on LFW, write stat.h5.

    Starts after ``epochs_done`` epochs (a resumed run). Only the chief (``outputs.run``
    given) validates, saves and evaluates; the other workers train.
    """
    run, summary_writer = outputs.run, outputs.summary_writer
    stats = training.softmax_stats(args.max_nrof_epochs, args.epoch_size,
                                   args.validate_every_n_epochs, test_accuracy=bool(test_set))
    if run and epochs_done:
        stats.load(os.path.join(run.log_dir, 'stat.h5'))  # the figures of the epochs done
    print('Running training')
    with StopRequest() as local_stop:
        stop = StopAgreement(local_stop, (g.stop_request, g.any_stop_request))
        for epoch in range(epochs_done + 1, args.max_nrof_epochs + 1):
            lr = runs.epoch_learning_rate(args.learning_rate, schedule, epoch)
            if lr <= 0:
                print('The learning rate schedule ends before epoch %d: training done' % epoch)
                break
            step = sess.run(g.global_step)
            start_time = time.time()
            train_one_epoch(args, sess, g, epoch, lr, stats, summary_writer, stop,
                            replicas.run_options(), with_summaries=bool(run))
            stats['time_train'][epoch - 1] = time.time() - start_time
            last = (epoch == args.max_nrof_epochs or stop.requested
                    or runs.epoch_learning_rate(args.learning_rate, schedule, epoch + 1) <= 0)
            if run:
                end_epoch(args, sess, g, outputs, epoch, step, last, validation_set,
                          test_set, lfw_evaluator, stats)
            if stop.requested:
                print('Stopped after epoch %d as requested' % epoch)
                break


def end_epoch(args, sess, g, outputs, epoch, step, last, validation_set, test_set,
              lfw_evaluator, stats):
    """The chief's work after an epoch: validate (and test), save (the checkpoint and the
    training state), LFW, stat.h5."""
    run, summary_writer = outputs.run, outputs.summary_writer
    start_time = time.time()
    if epoch % args.validate_every_n_epochs == 0 or last:
        if validation_set[0]:
            validate(args, sess, g, epoch, *validation_set, stats, summary_writer)
        if test_set:
            test(args, sess, g, epoch, test_set, stats, summary_writer)
    stats['time_validate'][epoch - 1] = time.time() - start_time
    if epoch % args.save_every_n_epochs == 0 or last:
        runs.save_checkpoint(sess, outputs.writer, summary_writer, epoch, print,
                             outputs.state, epoch)
    start_time = time.time()
    if lfw_evaluator:
        accuracy_, val = lfw_evaluator.evaluate_and_log(sess, run.log_dir, summary_writer, step)
        stats['lfw_accuracy'][epoch - 1], stats['lfw_valrate'][epoch - 1] = accuracy_, val
    stats['time_evaluate'][epoch - 1] = time.time() - start_time
    print('Saving statistics')
    stats.save(os.path.join(run.log_dir, 'stat.h5'))


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description='Train a face recognizer with softmax cross-entropy loss.',
        parents=[arguments.training_args('models.inception_resnet_v1'), arguments.gpu_args(),
                 arguments.image_size_args(160), arguments.seed_args(666),
                 arguments.standardization_args(), arguments.lfw_args(prefix='lfw_'),
                 arguments.softmax_fork_args()])
    parser.add_argument('--random_rotate', action='store_true',
                        help='Performs random rotations of training images.')
    parser.add_argument('--center_loss_factor', type=float, default=0.0, help='Center loss factor.')
    parser.add_argument('--center_loss_alfa', type=arguments.unit_interval, default=0.95,
                        help='Center update rate for center loss.')
    parser.add_argument('--prelogits_norm_loss_factor', type=float, default=0.0,
                        help='Loss based on the norm of the activations in the prelogits layer.')
    parser.add_argument('--prelogits_norm_p', type=float, default=1.0,
                        help='Norm to use for prelogits norm loss.')
    parser.add_argument('--prelogits_hist_max', type=float, default=10.0,
                        help='The max value for the prelogits histogram.')
    parser.add_argument('--nrof_preprocess_threads', type=arguments.positive_int, default=4,
                        help='Number of preprocessing (data loading and augmentation) threads.')
    parser.add_argument('--log_histograms', action='store_true',
                        help='Enables logging of weight/bias histograms in tensorboard.')
    parser.add_argument('--filter_filename', type=str, default='',
                        help='File containing image data used for dataset filtering')
    parser.add_argument('--filter_percentile', type=arguments.percentile, default=100.0,
                        help='Keep only the percentile images closed to its class center')
    parser.add_argument('--filter_min_nrof_images_per_class', type=int, default=0,
                        help='Keep only the classes with this number of examples or more')
    parser.add_argument('--validate_every_n_epochs', type=arguments.positive_int, default=5,
                        help='Number of epoch between validation')
    parser.add_argument('--validation_set_split_ratio', type=float, default=0.0,
                        help='The ratio of the total dataset to use for validation')
    parser.add_argument('--min_nrof_val_images_per_class', type=float, default=0,
                        help='Classes with fewer images will be removed from the validation set')
    args = parser.parse_args(argv)
    if not 0.0 <= args.validation_set_split_ratio < 1.0:
        parser.error('--validation_set_split_ratio must be in [0, 1)')
    if args.is_finetune:
        if parse_scopes(args.trainable_scopes) not in ((), ('Logits',)):
            parser.error('--is_finetune trains only Logits; it contradicts --trainable_scopes %s'
                         % args.trainable_scopes)
        args.trainable_scopes = 'Logits'
    if args.load_without_fc and not args.pretrained_model:
        parser.error('--load_without_fc needs --pretrained_model')
    return args


def main(args):
    run_training(args)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
