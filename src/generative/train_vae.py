"""Train a variational autoencoder on aligned faces, with a FaceNet perceptual loss.

The reconstruction loss is either PLAIN (squared pixel differences) or PERCEPTUAL: squared
differences of the activations of a pretrained face network (``model_def`` restored from
``pretrained_model``) at the end points named by ``--loss_features``, after "Deep Feature
Consistent Variational Autoencoder" (Hou et al., 2016). Writes to
``<models_base_dir>/<YYYYmmdd-HHMMSS>/``: ``arguments.txt``, ``revision_info.txt``, VAE
checkpoints ``model.ckpt-<step>``, ``logs.h5`` (per-step total_loss, reconstruction_loss,
kl_loss, learning_rate) and ``reconstructed_<step>.png`` grids.

    python src/generative/train_vae.py generative.models.dfc_vae ~/datasets/casia/casia_maxpy_mtcnnpy_182 \\
        models.inception_resnet_v1 ~/models/facenet/20170512-110547/model-20170512-110547.ckpt-250000 \\
        --models_base_dir ~/vae --reconstruction_loss_type PERCEPTUAL --max_nrof_steps 50000

Differences from the classic script: a checkpoint folder is accepted as ``pretrained_model``
and its embedding size is read from it (the classic code assumed 128); only the face
network's variables that the chosen features depend on are restored (for the default early
layers a checkpoint of the network's stem is enough); the classic ``src.``-prefixed module
names work as well as the plain ones; only the VAE's variables are saved; with PLAIN loss ``model_def`` and ``pretrained_model`` are not used; bad paths, module
names and feature names stop the run before anything is written.
"""
import argparse
import collections
import math
import os
import sys
import time
from datetime import datetime

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

import h5py  # noqa: E402
import numpy as np  # noqa: E402

from generative import vae as vae_lib  # noqa: E402
from toolkit import cli  # noqa: E402
from toolkit.cli.arguments import positive_int, seed_args, vae_args  # noqa: E402
from toolkit.data.folders import get_dataset, get_image_paths_and_labels  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402
from toolkit.fileio import (NewFolders, atomic_path, check_writable,  # noqa: E402
                            store_revision_info, write_arguments_to_file)
from toolkit.plotting import save_image_grid  # noqa: E402
from toolkit.session import new_session  # noqa: E402
from toolkit.tf_compat import tf  # noqa: E402

LOG_KEYS = ('total_loss', 'reconstruction_loss', 'kl_loss', 'learning_rate')

TrainingGraph = collections.namedtuple('TrainingGraph', [
    'train_op', 'total_loss', 'reconstruction_loss', 'kl_loss', 'learning_rate',
    'reconstructed', 'vae_variables', 'network_variables'])


def reconstruction_loss(args, images, images_norm, reconstructed, reconstructed_norm,
                        gen_image_size, bottleneck_layer_size):
    """The PLAIN or PERCEPTUAL loss; returns ``(loss, face-network variables)``."""
    if args.reconstruction_loss_type == 'PLAIN':
        images_resize = tf.image.resize_images(images, (gen_image_size, gen_image_size))
        return vae_lib.plain_reconstruction_loss(images_resize, reconstructed), []
    network = vae_lib.import_definition(args.model_def)
    feature_names = vae_lib.parse_feature_names(args.loss_features)
    size = args.input_image_size
    reconstructed_norm_resize = tf.image.resize_images(reconstructed_norm, (size, size))
    try:
        return vae_lib.perceptual_reconstruction_loss(
            network, images_norm, reconstructed_norm_resize, feature_names,
            bottleneck_layer_size)
    except ValueError as error:
        raise FacenetError('--input_image_size %d does not fit the network %s: %s'
                           % (size, args.model_def, str(error).splitlines()[0])) from None


def build_training_graph(args, vae, image_paths, bottleneck_layer_size):
    """Input pipeline, VAE, losses and the Adam step over the VAE's variables only."""
    gen_image_size = vae.get_image_size()
    global_step = tf.train.get_or_create_global_step()
    # N x input_image_size x input_image_size x 3 pixel values
    images, _ = vae_lib.image_batches(image_paths, args.input_image_size, args.batch_size,
                                      seed=args.seed, training=True)
    images_norm = vae_lib.normalize(images)
    images_norm_resize = tf.image.resize_images(images_norm, (gen_image_size, gen_image_size))
    (mean, log_variance), encoder_variables = vae_lib.created_variables(
        lambda: vae.encoder(images_norm_resize, True))
    latent_var = vae_lib.sample_latent(mean, log_variance, seed=args.seed)
    reconstructed_norm, decoder_variables = vae_lib.created_variables(
        lambda: vae.decoder(latent_var, True))
    reconstructed = vae_lib.denormalize(reconstructed_norm)

    rec_loss, network_variables = reconstruction_loss(
        args, images, images_norm, reconstructed, reconstructed_norm, gen_image_size,
        bottleneck_layer_size)
    kl_loss = tf.reduce_mean(vae_lib.kl_divergence_loss(mean, log_variance))
    total_loss = args.alfa * kl_loss + args.beta * rec_loss

    learning_rate = tf.train.exponential_decay(
        args.initial_learning_rate, global_step, args.learning_rate_decay_steps,
        args.learning_rate_decay_factor, staircase=True)
    vae_variables = encoder_variables + decoder_variables
    optimizer = tf.train.AdamOptimizer(learning_rate)
    # The batch-norm moving statistics have no gradient; the face network is not trained.
    grads = [(g, v) for g, v in optimizer.compute_gradients(total_loss, vae_variables)
             if g is not None]
    train_op = optimizer.apply_gradients(grads, global_step=global_step, name='train')
    return TrainingGraph(train_op, total_loss, rec_loss, kl_loss, learning_rate, reconstructed,
                         vae_variables, network_variables)


def grid_shape(batch_size, max_columns=16):
    """(columns, rows) of the reconstruction grid: 16 x 8 for the classic batch of 128."""
    columns = min(batch_size, max_columns)
    return columns, int(math.ceil(batch_size / columns))


def write_log(filename, log):
    with atomic_path(filename) as tmp_path:
        with h5py.File(tmp_path, 'w') as handle:
            for key in LOG_KEYS:
                handle.create_dataset(key, data=np.asarray(log[key], dtype=np.float64))


def train(args, sess, graph, model_dir):
    """Run ``max_nrof_steps`` steps, saving every ``save_every_n_steps`` and at the end."""
    saver = tf.train.Saver(graph.vae_variables, max_to_keep=3)
    log = {key: [] for key in LOG_KEYS}
    fetches = [graph.train_op, graph.total_loss, graph.reconstruction_loss, graph.kl_loss,
               graph.learning_rate]
    print('Running training')
    for step in range(1, args.max_nrof_steps + 1):
        start_time = time.time()
        save_state = step % args.save_every_n_steps == 0 or step == args.max_nrof_steps
        results = vae_lib.run_input(sess, fetches + ([graph.reconstructed] if save_state else []))
        _, total_loss, rec_loss, kl_loss, learning_rate = results[:5]
        for key, value in zip(LOG_KEYS, (total_loss, rec_loss, kl_loss, learning_rate)):
            log[key].append(value)
        if not np.isfinite(total_loss):
            raise FacenetError('the loss is %s at step %d; try a lower --initial_learning_rate'
                               % (total_loss, step))
        print('Step: %d \tTime: %.3f \trec_loss: %.3f \tkl_loss: %.3f \ttotal_loss: %.3f'
              % (step, time.time() - start_time, rec_loss, kl_loss, total_loss))
        if save_state:
            save_image_grid(os.path.join(model_dir, 'reconstructed_%06d.png' % step),
                            results[5], grid_shape(args.batch_size))
            print('Saving checkpoint file')
            saver.save(sess, os.path.join(model_dir, 'model.ckpt'), global_step=step,
                       write_meta_graph=False)
            print('Saving log')
            write_log(os.path.join(model_dir, 'logs.h5'), log)
    return log


def check_inputs(args):
    """Validate names and paths before anything is written; return (image_paths, ckpt)."""
    vae_lib.import_definition(args.vae_def, 'VAE definition')
    pretrained_ckpt = None
    if args.reconstruction_loss_type == 'PERCEPTUAL':
        vae_lib.import_definition(args.model_def)
        vae_lib.parse_feature_names(args.loss_features)
        pretrained_ckpt = vae_lib.find_checkpoint(args.pretrained_model,
                                                  'pretrained model checkpoint')
    dataset = get_dataset(os.path.expanduser(args.data_dir))
    image_paths, _ = get_image_paths_and_labels(dataset)
    if not image_paths:
        raise FacenetError('no images found in %s' % args.data_dir)
    if len(image_paths) < args.batch_size:
        print('warning: %d images, fewer than a batch of %d; images repeat within a batch'
              % (len(image_paths), args.batch_size), file=sys.stderr)
    return image_paths, pretrained_ckpt


def main(args):
    image_paths, pretrained_ckpt = check_inputs(args)
    vae = vae_lib.create_vae(args.vae_def, args.latent_var_size)
    bottleneck = (vae_lib.checkpoint_bottleneck_size(pretrained_ckpt) if pretrained_ckpt
                  else 128)

    subdir = datetime.strftime(datetime.now(), '%Y%m%d-%H%M%S')
    model_dir = os.path.join(os.path.expanduser(args.models_base_dir), subdir)
    check_writable(args.models_base_dir, '--models_base_dir', directory=True)
    with tf.Graph().as_default():
        tf.set_random_seed(args.seed)
        graph = build_training_graph(args, vae, image_paths, bottleneck)
        # Removed again when the run fails before training (e.g. a bad pretrained model).
        with NewFolders([model_dir], 'model folder') as folders:
            print('Model directory: %s' % model_dir)
            write_arguments_to_file(args, os.path.join(model_dir, 'arguments.txt'))
            store_revision_info(os.path.dirname(os.path.realpath(__file__)), model_dir,
                                ' '.join(sys.argv))
            with new_session() as sess:
                sess.run(tf.global_variables_initializer())
                if pretrained_ckpt:
                    print('Restoring pretrained model: %s' % pretrained_ckpt)
                    vae_lib.restore_variables(sess, graph.network_variables, pretrained_ckpt,
                                              'pretrained model checkpoint')
                folders.keep()
                train(args, sess, graph, model_dir)
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     parents=[seed_args(), vae_args(with_checkpoint=False)])
    parser.add_argument('data_dir', type=str,
                        help='Path to the data directory containing aligned face patches.')
    parser.add_argument('model_def', type=str,
                        help='Model definition. Points to a module containing the definition of '
                             'the inference graph.')
    parser.add_argument('pretrained_model', type=str,
                        help='Pretrained model to use to calculate features for perceptual loss.')
    parser.add_argument('--models_base_dir', type=str, default='~/vae',
                        help='Directory where to write trained models and checkpoints.')
    parser.add_argument('--loss_features', type=str,
                        default='Conv2d_1a_3x3,Conv2d_2a_3x3, Conv2d_2b_3x3',
                        help='Comma separated list of features to use for perceptual loss. '
                             'Features should be defined in the end_points dictionary.')
    parser.add_argument('--reconstruction_loss_type', type=str, choices=['PLAIN', 'PERCEPTUAL'],
                        default='PERCEPTUAL', help='The type of reconstruction loss to use')
    parser.add_argument('--max_nrof_steps', type=positive_int, default=50000,
                        help='Number of steps to run.')
    parser.add_argument('--save_every_n_steps', type=positive_int, default=500,
                        help='Number of steps between storing of model checkpoint and log files')
    parser.add_argument('--batch_size', type=positive_int, default=128,
                        help='Number of images to process in a batch.')
    parser.add_argument('--input_image_size', type=positive_int, default=160,
                        help='Image size of input images (height, width) in pixels. If perceptual '
                             'loss is used this should be the input image size for the perceptual '
                             'loss model')
    parser.add_argument('--initial_learning_rate', type=float, default=0.0005,
                        help='Initial learning rate.')
    parser.add_argument('--learning_rate_decay_steps', type=positive_int, default=1,
                        help='Number of steps between learning rate decay.')
    parser.add_argument('--learning_rate_decay_factor', type=float, default=1.0,
                        help='Learning rate decay factor.')
    parser.add_argument('--alfa', type=float, default=1.0,
                        help='Kullback-Leibler divergence loss factor.')
    parser.add_argument('--beta', type=float, default=0.5, help='Reconstruction loss factor.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
