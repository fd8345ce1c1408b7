"""Training graph pieces shared by train_softmax and train_tripletloss.

Optimizer factory, the train op (loss averages for TensorBoard, gradients, exponential moving
averages of the weights), the decayed learning rate, trainable-scope selection for
fine-tuning, run folders and the ``stat.h5`` statistics file.
"""
from __future__ import annotations  # dataclass fields typed tf.Tensor: read lazily
import contextlib
import dataclasses
import inspect
import os
from datetime import datetime

import h5py
import numpy as np

from toolkit.errors import FacenetError
from toolkit.fileio import atomic_path
from toolkit.tf_compat import tf
from toolkit.training.checkpoints import in_scopes

OPTIMIZERS = ('ADAGRAD', 'ADADELTA', 'ADAM', 'RMSPROP', 'MOM')


def make_optimizer(name, learning_rate):
    """The classic optimizers with the classic hyper-parameters."""
    if name == 'ADAGRAD':
        return tf.train.AdagradOptimizer(learning_rate)
    if name == 'ADADELTA':
        return tf.train.AdadeltaOptimizer(learning_rate, rho=0.9, epsilon=1e-6)
    if name == 'ADAM':
        return tf.train.AdamOptimizer(learning_rate, beta1=0.9, beta2=0.999, epsilon=0.1)
    if name == 'RMSPROP':
        return tf.train.RMSPropOptimizer(learning_rate, decay=0.9, momentum=0.9, epsilon=1.0)
    if name == 'MOM':
        return tf.train.MomentumOptimizer(learning_rate, 0.9, use_nesterov=True)
    raise FacenetError('invalid optimizer "%s" (choose from %s)' % (name, ', '.join(OPTIMIZERS)))


def scalar_summary(tag, value):
    """A scalar summary with exactly ``tag`` (tf.summary.scalar would make the tag unique
    against op names, e.g. ``learning_rate_1`` next to the ``learning_rate`` placeholder)."""
    summary = tf.raw_ops.ScalarSummary(tags=tag, values=value)
    tf.add_to_collection(tf.GraphKeys.SUMMARIES, summary)
    return summary


def histogram_summary(tag, values):
    """A histogram summary with exactly ``tag`` (see scalar_summary)."""
    summary = tf.raw_ops.HistogramSummary(tag=tag, values=values)
    tf.add_to_collection(tf.GraphKeys.SUMMARIES, summary)
    return summary


def decayed_learning_rate(base_rate, global_step, decay_epochs, epoch_size, decay_factor):
    """Staircase exponential decay every ``decay_epochs`` epochs; summarized as learning_rate."""
    rate = tf.train.exponential_decay(base_rate, global_step, decay_epochs * epoch_size,
                                      decay_factor, staircase=True)
    scalar_summary('learning_rate', rate)
    return rate


def add_loss_summaries(total_loss, losses):
    """Scalar summaries of each loss, raw and smoothed (moving average 0.9); returns the update op."""
    return add_named_loss_summaries([(loss.op.name, loss) for loss in list(losses) + [total_loss]])


def add_named_loss_summaries(named_losses):
    """``add_loss_summaries`` for ``(tag, scalar)`` pairs (the tag of a loss averaged over
    replicas is that of the first replica's loss)."""
    averages = tf.train.ExponentialMovingAverage(0.9, name='avg')
    update_op = averages.apply([loss for _, loss in named_losses])
    for tag, loss in named_losses:
        scalar_summary(tag + ' (raw)', loss)
        scalar_summary(tag, averages.average(loss))
    return update_op


def global_step_variable():
    """The classic ``global_step`` counter (in a step on several replicas it counts once)."""
    return tf.Variable(0, trainable=False, name='global_step',
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


def model_variables_to_train(scopes=None):
    """The trainable variables to update: all of them, or those under ``scopes``.

    Batch-norm moving statistics sit in the trainable collection (so that savers over
    trainable variables store them) but are updated by batch norm, never by gradients.

    Raises:
        FacenetError: a scope matches no trainable variable.
    """
    moving = set(tf.get_collection(tf.GraphKeys.MOVING_AVERAGE_VARIABLES))
    variables = [v for v in tf.trainable_variables() if v not in moving]
    if not scopes:
        return variables
    for scope in scopes:
        if not any(in_scopes(v.op.name, [scope]) for v in variables):
            raise FacenetError('--trainable_scopes: no trainable variable under "%s" '
                               '(scopes look like InceptionResnetV1/Block8 or Logits)' % scope)
    return [v for v in variables if in_scopes(v.op.name, scopes)]


def build_train_op(total_loss, losses, global_step, optimizer, learning_rate,
                   moving_average_decay, update_variables, log_histograms=False,
                   extra_update_ops=()):
    """One training step: gradients of ``total_loss`` applied to ``update_variables``.

    Also keeps moving averages of the losses (TensorBoard) and of the trainable variables
    (decay ``moving_average_decay``), runs ``extra_update_ops`` (e.g. the center-loss
    centers), and adds variable/gradient histograms when asked.
    """
    loss_averages_op = add_loss_summaries(total_loss, losses)
    with tf.control_dependencies([loss_averages_op]):
        opt = make_optimizer(optimizer, learning_rate)
        grads = opt.compute_gradients(total_loss, update_variables)
    apply_gradient_op = opt.apply_gradients(grads, global_step=global_step)
    if log_histograms:
        for var in tf.trainable_variables():
            histogram_summary(var.op.name, var)
        for grad, var in grads:
            if grad is not None:
                histogram_summary(var.op.name + '/gradients', grad)
    variable_averages = tf.train.ExponentialMovingAverage(moving_average_decay, global_step)
    variables_averages_op = variable_averages.apply(update_variables)
    with tf.control_dependencies([apply_gradient_op, variables_averages_op, *extra_update_ops]):
        return tf.no_op(name='train')


def replica_update(optimizer, total_loss, update_variables, global_step, num_replicas=1):
    """The gradient step of one replica (call it in each replica of a tf.distribute step).

    The optimizer sums the replicas' gradients before it applies them once to every copy
    of the variables; each replica's loss is the mean over its own equal share of the
    batch, so dividing it by ``num_replicas`` makes the sum the gradient of the mean loss
    over the whole batch, the gradient one device computes.

    Returns:
        ``(apply op, [(gradient, variable)])`` (this replica's own gradients).
    """
    loss = total_loss / float(num_replicas) if num_replicas > 1 else total_loss
    grads = optimizer.compute_gradients(loss, update_variables)
    return optimizer.apply_gradients(grads, global_step=global_step), grads


@dataclasses.dataclass(frozen=True)
class ReplicaStep:
    """What the replica step of both training scripts shares (built by ``make_replica_step``):
    the decayed learning rate, the variables the gradients update and the optimizer, and
    the network to build a training tower of."""
    network: object  # the model module
    options: object  # a NetworkOptions
    replicas: object  # a distribute.Replicas
    global_step: tf.Variable
    learning_rate: tf.Tensor
    update_variables: list
    optimizer: object  # a tf.compat.v1.train.Optimizer

    @contextlib.contextmanager
    def tower(self, images):
        """Inside the replica step: the training tower on this replica's slice of
        ``images``, over the variables already built. Yields ``(prelogits, weight_decay)``:
        the weight-decay losses of the variables this replica reads, including those
        (e.g. the classifier's) read again inside the block."""
        with reused_variables_and_their_regularization() as weight_decay:
            yield (build_training_tower(self.network, self.replicas.replica_slice(images),
                                        self.options), weight_decay)

    def update(self, total_loss):
        """This replica's gradient step on ``total_loss`` (see replica_update)."""
        return replica_update(self.optimizer, total_loss, self.update_variables,
                              self.global_step, self.replicas.num_replicas)


def make_replica_step(network, options, replicas, global_step, learning_rate_input, optimizer_name,
                 decay_epochs, epoch_size, decay_factor):
    """The ReplicaStep of a training graph: the learning rate (``learning_rate_input``
    decayed every ``decay_epochs`` epochs of ``epoch_size`` steps by ``decay_factor``), the
    variables to train (``options.trainable_scopes``) and the optimizer ``optimizer_name``.
    Call it inside ``replicas.scope()``, after the inference tower built the variables."""
    learning_rate = decayed_learning_rate(learning_rate_input, global_step, decay_epochs,
                                          epoch_size, decay_factor)
    return ReplicaStep(network, options, replicas, global_step, learning_rate,
                       model_variables_to_train(options.trainable_scopes),
                       make_optimizer(optimizer_name, learning_rate))


def finish_train_op(update_ops, named_losses, global_step, moving_average_decay,
                    update_variables, grads=(), log_histograms=False):
    """The ``train`` op: the replicas' ``update_ops``, then the moving averages.

    After the updates: moving averages of the losses (TensorBoard; ``named_losses`` are
    ``(tag, scalar)`` pairs) and of ``update_variables`` (decay ``moving_average_decay``),
    plus variable and gradient (``grads``) histograms when asked.
    """
    update_ops = list(update_ops)
    with tf.control_dependencies(update_ops):
        loss_averages_op = add_named_loss_summaries(named_losses)
        variable_averages = tf.train.ExponentialMovingAverage(moving_average_decay, global_step)
        variables_averages_op = variable_averages.apply(update_variables)
    if log_histograms:
        for var in tf.trainable_variables():
            histogram_summary(var.op.name, var)
        for grad, var in grads:
            if grad is not None:
                histogram_summary(var.op.name + '/gradients', grad)
    with tf.control_dependencies(update_ops + [loss_averages_op, variables_averages_op]):
        return tf.no_op(name='train')


@contextlib.contextmanager
def reused_variables_and_their_regularization():
    """Reuse the variables already built, collecting the regularization losses of those read.

    TensorFlow adds a variable's regularization loss (weight decay) to its collection only
    when it creates the variable, computed from the variable as the first tower read it. A
    further tower (e.g. a replica on another device, reading its own copy) gets its own
    losses in the yielded list instead.
    """
    losses = []

    def regularized_getter(getter, name, *args, **kwargs):
        variable = getter(name, *args, **kwargs)
        regularizer = kwargs.get('regularizer')
        loss = regularizer(variable) if regularizer is not None else None
        if loss is not None:
            losses.append(loss)
        return variable

    with tf.variable_scope(tf.get_variable_scope(), reuse=True, auxiliary_name_scope=False,
                           custom_getter=regularized_getter):
        yield losses


def train(total_loss, global_step, optimizer, learning_rate, moving_average_decay,
          update_gradient_vars, log_histograms=True):
    """Classic ``facenet.train``: the train op over ``update_gradient_vars``.

    As in the classic code the variable list may be ``tf.global_variables()``: variables that
    cannot take a gradient (integer counters, batch-norm moving statistics) are left out.
    The losses in the ``losses`` collection get TensorBoard summaries.
    """
    moving = set(tf.get_collection(tf.GraphKeys.MOVING_AVERAGE_VARIABLES))
    trainable = set(tf.trainable_variables())
    variables = [v for v in update_gradient_vars
                 if v in trainable and v not in moving and v.dtype.base_dtype.is_floating]
    return build_train_op(total_loss, tf.get_collection('losses'), global_step, optimizer,
                          learning_rate, moving_average_decay, variables, log_histograms)


def build_network(network, images, options, phase_train, reuse=None, log=None):
    """``network.inference`` with the training options; a too small image is a FacenetError.

    With ``options.trainable_scopes``, the batch norms outside those scopes are frozen (when
    the model's ``inference`` takes ``trainable_scopes``, as ours all do; otherwise ``log``
    gets a note). ``reuse`` builds the network once more over the variables of an earlier call.

    Args:
        network: the model module.
        images: N x H x W x 3 input.
        options: a NetworkOptions.
        phase_train: Python bool or boolean tensor.
        reuse: reuse the variables of an earlier call.
        log: callable taking one line of text (None: no note).

    Returns:
        N x ``options.embedding_size`` prelogits.
    """
    extra = {}
    parameters = inspect.signature(network.inference).parameters
    if options.trainable_scopes:
        if 'trainable_scopes' in parameters:
            extra['trainable_scopes'] = list(options.trainable_scopes)
        elif not reuse and log:
            log('Note: %s.inference() takes no trainable_scopes, so the batch-norm statistics '
                'of frozen scopes keep updating' % options.model_def)
    if options.sync_batch_norm:
        if 'sync_batch_norm' not in parameters:
            raise FacenetError('--sync_batch_norm: %s.inference() takes no sync_batch_norm'
                               % options.model_def)
        extra['sync_batch_norm'] = True
    if images.dtype.base_dtype != tf.as_dtype(options.dtype):
        images = tf.cast(images, options.dtype)  # the layers follow their input's type
    try:
        prelogits, _ = network.inference(images, options.keep_probability,
                                         phase_train=phase_train,
                                         bottleneck_layer_size=options.embedding_size,
                                         weight_decay=options.weight_decay, reuse=reuse, **extra)
    except ValueError as error:
        if 'Negative dimension' not in str(error):
            raise
        raise FacenetError('--image_size %d is too small for %s'
                           % (images.get_shape()[1], options.model_def)) from None
    return prelogits


def build_training_tower(network, images, options):
    """The network once more, fixed in training mode, over the variables already built.

    The training scripts build two towers that share every variable: first the inference
    tower, whose batch norms and dropout switch on ``phase_train`` (validation, LFW, the
    saved ``.meta``, with the classic node names), then this one, which the train op runs.
    Without a ``tf.cond`` in every layer the training graph is smaller (28,050 against 34,571
    ops for train_softmax with Inception-ResNet-v1); in three runs of tmp/bench_train_step.py
    a step with a switched training tower took 0.98x to 1.06x the time of one with this tower.

    Returns:
        N x ``options.embedding_size`` prelogits, in name scope ``training``.
    """
    with tf.name_scope('training'):
        return build_network(network, images, options, True, reuse=True)


@dataclasses.dataclass(frozen=True)
class InferenceTower:
    """The network switched by ``phase_train``, with the classic names
    (see build_inference_tower)."""
    images: tf.Tensor  # input
    prelogits: tf.Tensor
    embeddings: tf.Tensor


def build_inference_tower(network, options, phase_train, log=None):
    """The tower that creates the variables: ``input`` -> ``embeddings`` (L2-normalized).

    Its batch norms and dropout switch on ``phase_train``; it serves validation, LFW and the
    saved ``.meta``. ``log`` gets build_network's note.
    """
    size = options.image_size
    images = tf.placeholder(tf.float32, [None, size, size, 3], name='input')
    prelogits = build_network(network, images, options, phase_train, log=log)
    return InferenceTower(images, prelogits,
                          tf.nn.l2_normalize(prelogits, 1, 1e-10, name='embeddings'))


def training_input(batches, image_size):
    """``(image_batch, label_batch)``: the training batch, read from ``batches`` unless fed."""
    images = tf.placeholder_with_default(batches.images, [None, image_size, image_size, 3],
                                         name='image_batch')
    return images, tf.placeholder_with_default(batches.labels, [None], name='label_batch')


def reuse_variables():
    """A variable scope that reuses the variables already built; the name scope stays."""
    return tf.variable_scope(tf.get_variable_scope(), reuse=True, auxiliary_name_scope=False)


def run_dir_names(logs_base_dir, models_base_dir, now=None, subdir=None):
    """``(subdir, <logs_base_dir>/<subdir>, <models_base_dir>/<subdir>)``; subdir is
    yyyymmdd-hhmmss unless given (``--run_name``)."""
    subdir = subdir or datetime.strftime(now or datetime.now(), '%Y%m%d-%H%M%S')
    return (subdir, os.path.join(os.path.expanduser(logs_base_dir), subdir),
            os.path.join(os.path.expanduser(models_base_dir), subdir))


class NoSummaryWriter:
    """Stands in for a tf.summary.FileWriter on a worker that writes no events."""

    def add_summary(self, summary, step=None):
        pass

    def close(self):
        pass


def add_summary_values(writer, step, values):
    """Write ``{tag: number}`` as scalar summaries at ``step``."""
    summary = tf.Summary()
    for tag, value in values.items():
        summary.value.add(tag=tag, simple_value=float(value))
    writer.add_summary(summary, step)


class TrainingStats:
    """Per-step and per-epoch statistics saved to ``stat.h5`` like the classic scripts.

    Args:
        shapes: ``{name: shape}`` of the float32 arrays, all zero-initialized.
    """

    def __init__(self, shapes):
        self.values = {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}

    def __getitem__(self, name):
        return self.values[name]

    def load(self, filename):
        """Take the figures of an earlier ``stat.h5`` of the run (a resumed run), as far as
        each array's shape allows; a missing file changes nothing."""
        if not os.path.isfile(filename):
            return
        with h5py.File(filename, 'r') as handle:
            for name, value in self.values.items():
                if name in handle and handle[name].ndim == value.ndim:
                    stored = handle[name][()]
                    overlap = tuple(slice(0, min(a, b)) for a, b in zip(stored.shape, value.shape))
                    value[overlap] = stored[overlap]

    def save(self, filename):
        """Write every array as a dataset; the file is replaced only once complete."""
        with atomic_path(filename) as temp_path:
            with h5py.File(temp_path, 'w') as handle:
                for name, value in self.values.items():
                    handle.create_dataset(name, data=value)


def softmax_stats(max_nrof_epochs, epoch_size, validate_every_n_epochs, hist_bins=1000,
                  test_accuracy=False):
    """The classic train_softmax ``stat.h5`` layout (plus ``test_accuracy`` when asked)."""
    nrof_steps = max_nrof_epochs * epoch_size
    nrof_val_samples = int(np.ceil(max_nrof_epochs / validate_every_n_epochs))
    shapes = {name: (nrof_steps,) for name in
              ('loss', 'center_loss', 'reg_loss', 'xent_loss', 'prelogits_norm', 'accuracy')}
    shapes.update({name: (nrof_val_samples,) for name in
                   ('val_loss', 'val_xent_loss', 'val_accuracy')})
    shapes.update({name: (max_nrof_epochs,) for name in
                   ('lfw_accuracy', 'lfw_valrate', 'learning_rate', 'time_train',
                    'time_validate', 'time_evaluate')})
    shapes['prelogits_hist'] = (max_nrof_epochs, hist_bins)
    if test_accuracy:
        shapes['test_accuracy'] = (nrof_val_samples,)
    return TrainingStats(shapes)
