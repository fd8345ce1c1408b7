"""Train a face recognizer with the triplet loss of the FaceNet paper (online triplet mining).

Schroff, Kalenichenko, Philbin: "FaceNet: A Unified Embedding for Face Recognition and
Clustering" (CVPR 2015). Classic usage::

    python src/train_tripletloss.py --logs_base_dir ~/logs/facenet/ --models_base_dir ~/models/facenet/ \\
        --data_dir ~/datasets/casia/casia_maxpy_mtcnnalign_182_160 --image_size 160 \\
        --model_def models.inception_resnet_v1 --lfw_dir ~/datasets/lfw/lfw_mtcnnalign_160 \\
        --optimizer RMSPROP --learning_rate 0.01 --weight_decay 1e-4 --max_nrof_epochs 500

Each round samples ``--people_per_batch`` people with up to ``--images_per_person`` images,
embeds them, picks the triplets violating the margin ``--alpha`` and trains on those.
"""
from __future__ import annotations  # dataclass fields typed tf.Tensor: read lazily
import argparse
import contextlib
import dataclasses
import os
import time

import numpy as np

import models
from toolkit import cli
from toolkit.cli import arguments
from toolkit.data import training_sets
from toolkit.data.input_pipeline import Augmentation, ImageBatches
from toolkit.errors import FacenetError
from toolkit.modelfiles import metadata
from toolkit.modelfiles.loading import ModelTensors
from toolkit.nets.cross_replica import concat_over_replicas, mean_over_replicas
from toolkit.progress import Progress
from toolkit.tf_compat import tf
from toolkit.training import runs, towers as training
from toolkit.training.checkpoints import (CheckpointWriter, StopRequest, TrainingState,
                                          resolve_pretrained)
from toolkit.training.distribute import Replicas, StopAgreement
from toolkit.training.losses import triplet_loss
from toolkit.training.triplets import sample_people, select_triplet_indices

SUMMARY_EVERY_N_STEPS = 100
# Consecutive sampling rounds without any triplet after which an epoch is cut short.
MAX_EMPTY_ROUNDS = 100


@dataclasses.dataclass(frozen=True)
class TripletGraph:
    """The tensors of the triplet training graph (built by ``build_graph``)."""
    global_step: tf.Variable
    learning_rate_input: tf.Tensor  # the epoch's base rate, fed
    learning_rate: tf.Tensor  # decayed
    phase_train: tf.Tensor
    batches: ImageBatches
    inference: training.InferenceTower
    train_images: tf.Tensor  # image_batch: this worker's part of the global batch
    labels: tf.Tensor  # label_batch
    sample_embeddings: tf.Tensor  # training-mode embeddings of every replica's rows
    sample_labels: tf.Tensor  # their labels, in the same order
    triplet_loss: tf.Tensor  # means over all replicas
    total_loss: tf.Tensor
    train_op: tf.Operation
    saved_variables: list
    state_variables: list  # every variable of the graph: the training state
    saver: tf.train.Saver
    summary_op: tf.Tensor
    stop_request: tf.Tensor = None  # multi-worker runs: see Replicas.stop_vote
    any_stop_request: tf.Tensor = None


def build_graph(args, network, replicas=None):
    """Input pipeline, towers, triplet loss and the train op, in the default graph.

    The inference tower (``inference.images`` -> ``inference.embeddings``) evaluates LFW and
    goes into the .meta; the training tower reads the pipeline (``train_images``). With
    ``replicas`` on several devices or workers each replica builds a training tower on its
    slice of the batch (whole triplets), and ``sample_embeddings`` gathers the embeddings
    of all replicas' rows.
    """
    replicas = replicas or Replicas()
    local_batch_size = replicas.local_batch_size(args.batch_size, multiple=3)
    with replicas.scope():
        global_step = training.global_step_variable()
        learning_rate_input = tf.placeholder(tf.float32, name='learning_rate')
        phase_train = tf.placeholder(tf.bool, name='phase_train')
        # Triplets must stay whole: never skip an unreadable image here.
        batches = ImageBatches(args.image_size, local_batch_size,
                               Augmentation(args.random_crop, args.random_flip), 4,
                               seed=args.seed, name='train_data', shard=replicas.shard)
        options = arguments.network_options(args)
        inference = training.build_inference_tower(network, options, phase_train, log=print)
        train_images, labels = training.training_input(batches, args.image_size)
        step = training.make_replica_step(
            network, options, replicas, global_step, learning_rate_input, args.optimizer,
            args.learning_rate_decay_epochs, args.epoch_size, args.learning_rate_decay_factor)

        def replica_step():
            with step.tower(train_images) as (prelogits, weight_decay):
                embeddings = tf.nn.l2_normalize(prelogits, 1, 1e-10, name='train_embeddings')
            # Batches hold whole triplets: rows (3k, 3k+1, 3k+2) are (anchor, positive, negative).
            anchor, positive, negative = tf.unstack(
                tf.reshape(embeddings, [-1, 3, args.embedding_size]), 3, 1)
            loss = triplet_loss(anchor, positive, negative, args.alpha)
            total_loss = tf.add_n([loss] + weight_decay, name='total_loss')
            update, _ = step.update(total_loss)
            sample = (concat_over_replicas(embeddings),
                      concat_over_replicas(replicas.replica_slice(labels)))
            return (update, mean_over_replicas({'triplet': loss, 'total': total_loss}), sample,
                    replicas.stop_vote())

        steps = replicas.for_each_replica(replica_step)
        update_ops = [result[0] for result in steps]
        reported, sample, stop_vote = steps[0][1:]
        train_op = training.finish_train_op(
            update_ops, [('triplet_loss/Mean', reported['triplet']),
                         ('total_loss', reported['total'])],
            global_step, args.moving_average_decay, step.update_variables)
        saved_variables = tf.trainable_variables()
        saver = tf.train.Saver(saved_variables, max_to_keep=3)
    return TripletGraph(global_step, learning_rate_input, step.learning_rate, phase_train, batches,
                        inference, train_images, labels, *sample, reported['triplet'],
                        reported['total'], train_op, saved_variables, tf.global_variables(),
                        saver, tf.summary.merge_all(), *stop_vote)


@contextlib.contextmanager
def named_decode_failures(paths):
    """Turn a decode error of the input pipeline into a FacenetError naming the images of
    ``paths`` that no longer decode (triplets stay whole, so nothing is skipped)."""
    try:
        yield
    except tf.errors.InvalidArgumentError:
        gone_bad = training_sets.images_gone_bad(sorted(set(paths)))
        if gone_bad is None:
            raise
        raise gone_bad from None


def embed_sample(args, sess, g, replicas, image_paths, progress=None):
    """Embeddings of the sampled images, in order (training mode, as in the classic code).

    A multi-worker run pads the list to whole global batches (padding rows are labelled -1
    and dropped) and each worker's pipeline reads its part of each batch (its shard).
    ``progress(nrof_done, nrof_images)`` is called after each batch.
    """
    paths, labels = list(image_paths), list(range(len(image_paths)))
    if replicas.cluster:
        padding = -len(paths) % args.batch_size
        paths, labels = paths + paths[:1] * padding, labels + [-1] * padding
    g.batches.start(sess, paths, labels)
    emb_array = np.zeros((len(image_paths), args.embedding_size))
    nrof_done = 0
    while True:
        try:
            with named_decode_failures(paths):
                emb, lab = sess.run([g.sample_embeddings, g.sample_labels],
                                    options=replicas.run_options())
        except tf.errors.OutOfRangeError:
            return emb_array
        keep = lab >= 0
        emb_array[lab[keep], :] = emb[keep]
        nrof_done += int(np.sum(keep))
        if progress:
            progress(nrof_done, len(image_paths))


def train_on_triplets(args, sess, g, replicas, triplet_paths, lr, epoch, batch_number,
                      summary_writer, stop):
    """Train on the selected triplets' batches; returns ``(batch number, per-batch losses)``.

    A distributed run trains on whole global batches only (the last triplets that do not
    fill one are left out), each worker on its part of each batch (its pipeline's shard).
    """
    if replicas.distributed:
        triplet_paths = triplet_paths[:len(triplet_paths) - len(triplet_paths) % args.batch_size]
    g.batches.start(sess, triplet_paths, np.arange(len(triplet_paths)))
    feed_dict = {g.learning_rate_input: lr}
    fetches = {'loss': g.total_loss, 'train': g.train_op, 'step': g.global_step}
    losses = []
    while batch_number < args.epoch_size and not stop.requested:
        start_time = time.time()
        stop.add_to_step(fetches, feed_dict)
        with_summary = replicas.is_chief and batch_number % SUMMARY_EVERY_N_STEPS == 0
        try:
            with named_decode_failures(triplet_paths):
                out = sess.run(dict(fetches, summary=g.summary_op) if with_summary else fetches,
                               feed_dict, options=replicas.run_options())
        except tf.errors.OutOfRangeError:
            break
        duration = time.time() - start_time
        if with_summary:
            summary_writer.add_summary(out['summary'], out['step'])
            training.add_summary_values(summary_writer, out['step'], {'time/step': duration})
        batch_number += 1
        losses.append(out['loss'])
        stop.count(out)
        print('Epoch: [%d][%d/%d]\tTime %.3f\tLoss %2.3f'
              % (epoch, batch_number, args.epoch_size, duration, out['loss']))
    return batch_number, losses


def train_one_epoch(args, sess, g, replicas, train_set, epoch, lr, summary_writer, stop, rng):
    """Sample people, select triplets, train on them; until --epoch_size batches are done.

    Every worker samples and selects alike (same seed, same gathered embeddings).
    """
    batch_number = 0
    empty_rounds = 0
    while batch_number < args.epoch_size and not stop.requested:
        image_paths, num_per_class = sample_people(train_set, args.people_per_batch,
                                                   args.images_per_person, rng)
        start_time = time.time()
        with Progress(len(image_paths), 'Forward pass on sampled images') as progress:
            emb_array = embed_sample(args, sess, g, replicas, image_paths, progress)
        print('Running forward pass on sampled images: %.3f' % (time.time() - start_time))
        print('Selecting suitable triplets for training')
        triplets, nrof_pairs = select_triplet_indices(emb_array, num_per_class, args.alpha, rng)
        selection_time = time.time() - start_time
        print('(nrof_random_negs, nrof_triplets) = (%d, %d): time=%.3f seconds'
              % (nrof_pairs, len(triplets), selection_time))
        if len(triplets) == 0:
            empty_rounds += 1
            if empty_rounds >= MAX_EMPTY_ROUNDS:
                print('No triplet violates the margin in %d rounds: ending epoch %d early'
                      % (empty_rounds, epoch) if nrof_pairs else
                      'No sampled person had two images in %d rounds: ending epoch %d early'
                      % (empty_rounds, epoch))
                break
            continue
        empty_rounds = 0
        triplet_paths = [image_paths[i] for i in triplets.reshape(-1)]
        batch_number, losses = train_on_triplets(args, sess, g, replicas, triplet_paths, lr,
                                                 epoch, batch_number, summary_writer, stop)
        summary = tf.Summary()
        for loss in losses:
            summary.value.add(tag='loss', simple_value=loss)
        summary.value.add(tag='time/selection', simple_value=selection_time)
        summary_writer.add_summary(summary, sess.run(g.global_step))


def check_inputs(args, replicas):
    """Everything a user can get wrong, checked before any output is written."""
    if args.batch_size % 3 != 0:
        raise FacenetError('--batch_size must be a multiple of 3 (whole triplets), got %d'
                           % args.batch_size)
    replicas.local_batch_size(args.batch_size, multiple=3)
    runs.check_run_folders(args.logs_base_dir, args.models_base_dir)
    network = models.import_network(args.model_def)
    schedule = runs.read_schedule(args.learning_rate, args.learning_rate_schedule_file)
    if args.pretrained_model:
        resolve_pretrained(args.pretrained_model)
    with Progress(0, 'Checking training images') as progress:
        train_set = training_sets.load_training_set(args.data_dir, print, progress)
    training_sets.require_classes(train_set, args.data_dir)
    if not any(len(image_class) >= 2 for image_class in train_set):
        raise FacenetError('--data_dir %s has no person with two images: no triplet can be formed'
                           % args.data_dir)
    if args.images_per_person < 2:
        raise FacenetError('--images_per_person must be at least 2 (an anchor and a positive '
                           'of each person), got %d' % args.images_per_person)
    single = sum(1 for image_class in train_set if len(image_class) < 2)
    if single:
        print('warning: %d of the %d people in --data_dir have one image only: they serve as '
              'negatives, never as anchors' % (single, len(train_set)))
    training_sets.require_image_size(train_set, args.image_size, args.random_crop)
    return network, schedule, train_set


def single_device_metagraph(args, network):
    """The MetaGraphDef of this run's graph built for one device (a distributed run's .meta)."""
    with tf.Graph().as_default():
        tf.set_random_seed(args.seed)
        return build_graph(args, network).saver.export_meta_graph()


def run_training(args, argv=None):
    """Check the inputs and build the graph, then create the run folders and train.

    Returns:
        The model directory (None on a worker other than the chief, which writes nothing).
    """
    replicas = Replicas.from_flags(args.devices, args.num_gpus, os.environ.get('TF_CONFIG'),
                                   args.worker_timeout)
    network, schedule, train_set = check_inputs(args, replicas)
    resume = runs.find_resume(args.models_base_dir, args.run_name, print)
    rng = np.random.RandomState(args.seed)
    lfw_pairs = runs.read_lfw(arguments.lfw_options(args), print)
    print(replicas.describe())
    replicas.connect(args.gpu_memory_fraction)
    # The chief's run folders (prepare_run) stay open, and locked, until training ends.
    with tf.Graph().as_default(), contextlib.ExitStack() as outputs:
        tf.set_random_seed(args.seed)
        g = build_graph(args, network, replicas)
        lfw_evaluator = runs.build_lfw_evaluator(
            arguments.lfw_options(args), lfw_pairs,
            ModelTensors(g.inference.images, g.inference.embeddings, g.phase_train),
            args.image_size, print)
        run = writer = None
        if replicas.is_chief:
            run = outputs.enter_context(runs.prepare_run(
                args.logs_base_dir, args.models_base_dir, vars(args), __file__, argv, print,
                args.run_name))
            metadata.write_model_metadata(run.model_dir, metadata.PREWHITEN, args.embedding_size)
            writer = CheckpointWriter(g.saver, run.model_dir, run.subdir, metagraph=(
                single_device_metagraph(args, network) if replicas.distributed else None))
        state = TrainingState(g.state_variables, run and run.model_dir, run and run.subdir)
        with replicas.new_session(args.gpu_memory_fraction) as sess, replicas.faults_reported():
            sess.run(tf.global_variables_initializer(), options=replicas.run_options())
            sess.run(tf.local_variables_initializer())
            epochs_done = runs.restore_start(sess, state, resume, args.pretrained_model,
                                             g.saved_variables, print)
            replicas.check_same_epoch(sess, (g.stop_request, g.any_stop_request), epochs_done)
            summary_writer = (tf.summary.FileWriter(run.log_dir, sess.graph) if run
                              else training.NoSummaryWriter())
            if run:
                run.folders.keep()  # training starts: from here on its outputs stay
            try:
                with StopRequest() as local_stop:
                    stop = StopAgreement(local_stop, (g.stop_request, g.any_stop_request))
                    for epoch in range(epochs_done, args.max_nrof_epochs):
                        lr = runs.epoch_learning_rate(args.learning_rate, schedule, epoch)
                        if lr <= 0:
                            print('The learning rate schedule ends at epoch %d: training done'
                                  % epoch)
                            break
                        train_one_epoch(args, sess, g, replicas, train_set, epoch, lr,
                                        summary_writer, stop, rng)
                        step = sess.run(g.global_step)
                        if run:
                            runs.save_checkpoint(sess, writer, summary_writer, step, print,
                                                 state, epoch + 1)
                        if run and lfw_evaluator:
                            lfw_evaluator.evaluate_and_log(sess, run.log_dir, summary_writer, step)
                        if stop.requested:
                            print('Stopped after epoch %d as requested' % epoch)
                            break
            finally:
                summary_writer.close()
    return run.model_dir if run else None


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description='Train a face recognizer with the triplet loss.',
        parents=[arguments.training_args('models.inception_resnet_v1'), arguments.gpu_args(),
                 arguments.image_size_args(160), arguments.seed_args(666),
                 arguments.lfw_args(prefix='lfw_')])
    parser.add_argument('--people_per_batch', type=arguments.positive_int, default=45,
                        help='Number of people per batch.')
    parser.add_argument('--images_per_person', type=arguments.positive_int, default=40,
                        help='Number of images per person.')
    parser.add_argument('--alpha', type=arguments.positive_float, default=0.2,
                        help='Positive to negative triplet distance margin.')
    return parser.parse_args(argv)


def main(args):
    run_training(args)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
