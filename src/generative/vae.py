"""Library behind the VAE scripts: model loading, losses, checkpoints, CelebA attributes.

Images enter the VAE normalized by the classic per-channel statistics (IMAGE_MEAN,
IMAGE_STDDEV, measured on aligned CASIA-WebFace faces) and come out the same way.
"""
import importlib
import os

import h5py
import numpy as np

from toolkit.data import input_pipeline
from toolkit.errors import FacenetError, op_error_reason
from toolkit.fileio import atomic_path
from toolkit.modelfiles import loading
from toolkit.tf_compat import tf

IMAGE_MEAN = np.array([134.10714722, 102.52040863, 87.15436554])
IMAGE_STDDEV = np.sqrt(np.array([3941.30175781, 2856.94287109, 2519.35791016]))

ATTRIBUTE_DATASETS = ('latent_vars', 'attributes', 'fields', 'attribute_vectors')


# -- model definitions ----------------------------------------------------------------------

def import_definition(name, what='model definition'):
    """Import a module named like ``generative.models.dfc_vae``.

    The classic spelling with a leading ``src.`` (``src.generative.models.dfc_vae``,
    ``src.models.inception_resnet_v1``) is accepted too.

    Raises:
        FacenetError: no such module.
    """
    module_name = name[len('src.'):] if name.startswith('src.') else name
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise FacenetError('cannot import %s "%s": %s' % (what, name, error)) from None


def create_vae(vae_def, latent_var_size):
    """The ``Vae`` of a VAE definition module, for a latent code of ``latent_var_size``."""
    module = import_definition(vae_def, 'VAE definition')
    if not hasattr(module, 'Vae'):
        raise FacenetError('VAE definition %s has no Vae class' % vae_def)
    return module.Vae(latent_var_size)


def normalize(images):
    """Pixel values (0..255) -> the VAE's normalized space (tensor or array)."""
    return (images - IMAGE_MEAN.astype(np.float32)) / IMAGE_STDDEV.astype(np.float32)


def denormalize(images):
    """The VAE's normalized space -> pixel values (not clipped)."""
    return images * IMAGE_STDDEV.astype(np.float32) + IMAGE_MEAN.astype(np.float32)


def created_variables(build):
    """Run ``build()`` and return ``(its result, the global variables it created)``."""
    before = set(tf.global_variables())
    result = build()
    return result, [v for v in tf.global_variables() if v not in before]


# -- graph pieces ---------------------------------------------------------------------------

def sample_latent(mean, log_variance, seed=None):
    """Reparameterised sample ``mean + epsilon * exp(log_variance / 2)``."""
    epsilon = tf.random_normal(tf.shape(mean), seed=seed)
    return mean + epsilon * tf.exp(log_variance / 2)


def kl_divergence_loss(mean, log_variance):
    """KL divergence of N(mean, exp(log_variance)) from N(0, 1), one value per sample."""
    return 0.5 * tf.reduce_sum(tf.exp(log_variance) + tf.square(mean) - 1.0 - log_variance,
                               axis=1)


def plain_reconstruction_loss(images, reconstructed):
    """Sum of squared pixel differences over the batch (the classic PLAIN loss)."""
    return tf.reduce_sum(tf.square(images - reconstructed), name='reconstruction_loss')


def parse_feature_names(text):
    """'Conv2d_1a_3x3,Conv2d_2a_3x3, Conv2d_2b_3x3' -> list of end-point names."""
    names = [name for name in text.replace(' ', '').split(',') if name]
    if not names:
        raise FacenetError('--loss_features names no feature')
    return names


def perceptual_reconstruction_loss(network, images_norm, reconstructed_norm, feature_names,
                                   bottleneck_layer_size=128):
    """Squared distance between the network's features of the images and reconstructions.

    Both batches go through the face network together (inference mode); for each end point
    in ``feature_names`` the squared differences are summed over the batch, as the classic
    PERCEPTUAL loss did, and the terms are added.

    Args:
        network: module with ``inference(images, keep_probability, phase_train,
            bottleneck_layer_size, weight_decay)``, e.g. ``models.inception_resnet_v1``.
        images_norm, reconstructed_norm: N x S x S x 3 tensors at the network's input size.

    Returns:
        ``(loss, network_variables)``: the scalar loss and the variables of the network it
        depends on (for the early end points only the first layers), to be restored from
        the network's checkpoint. None of the network's variables is trained.

    Raises:
        FacenetError: a feature name is not an end point of the network.
    """
    batch_size = tf.shape(images_norm)[0]
    both = tf.concat([images_norm, reconstructed_norm], axis=0)
    (_, end_points), variables = created_variables(lambda: network.inference(
        both, 1.0, phase_train=False, bottleneck_layer_size=bottleneck_layer_size,
        weight_decay=0.0))
    unknown = [name for name in feature_names if name not in end_points]
    if unknown:
        raise FacenetError('unknown --loss_features %s; the network has %s'
                           % (', '.join(unknown), ', '.join(sorted(end_points))))
    terms = []
    for name in feature_names:
        features = end_points[name]
        image_features, reconstructed_features = features[:batch_size], features[batch_size:]
        terms.append(tf.reduce_sum(tf.square(image_features - reconstructed_features),
                                   name=name + '_loss'))
    loss = tf.add_n(terms, name='reconstruction_loss')
    return loss, variables_used_by(loss, variables)


def variables_used_by(tensor, candidates):
    """The variables among ``candidates`` that computing ``tensor`` reads."""
    by_name = {v.op.name: v for v in candidates}
    used, seen, stack = [], set(), [tensor.op]
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        if op.name in by_name:
            used.append(by_name[op.name])
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return sorted(used, key=lambda v: v.op.name)


# -- checkpoints ----------------------------------------------------------------------------

def find_checkpoint(path, what='checkpoint'):
    """A checkpoint prefix from a prefix (``model.ckpt-500``) or a folder holding one.

    Raises:
        FacenetError: nothing that looks like a checkpoint.
    """
    path = os.path.expanduser(path)
    if os.path.isdir(path):
        _, ckpt_file = loading.get_model_filenames(path)
        return os.path.join(path, ckpt_file)
    if os.path.isfile(path + '.index'):
        return path
    raise FacenetError('%s not found: %s' % (what, path))


def checkpoint_bottleneck_size(ckpt_path, default=128):
    """Embedding size of a face-network checkpoint (its Bottleneck layer), or ``default``."""
    for name, shape in loading.checkpoint_variables(ckpt_path).items():
        if name.endswith('/Bottleneck/weights') and len(shape) == 2:
            return shape[1]
    return default


def restore_variables(session, variables, ckpt_path, what):
    """Restore ``variables`` by name from a checkpoint; every one must be stored there.

    Raises:
        FacenetError: a variable is missing or has another shape in the checkpoint.
    """
    stored = loading.checkpoint_variables(ckpt_path)
    missing = [v.op.name for v in variables if v.op.name not in stored]
    if missing:
        raise FacenetError('%s %s lacks %d of the %d variables needed (e.g. %s); is it the '
                           'right model?' % (what, ckpt_path, len(missing), len(variables),
                                             missing[0]))
    wrong = [v.op.name for v in variables
             if list(stored[v.op.name]) != v.get_shape().as_list()]
    if wrong:
        raise FacenetError('%s %s stores %s with shape %s, the graph needs %s'
                           % (what, ckpt_path, wrong[0], stored[wrong[0]],
                              _variable(variables, wrong[0]).get_shape().as_list()))
    tf.train.Saver({v.op.name: v for v in variables}).restore(session, ckpt_path)


def _variable(variables, name):
    return next(v for v in variables if v.op.name == name)


# -- input ----------------------------------------------------------------------------------

def image_batches(image_paths, image_size, batch_size, seed=None, training=True):
    """Pixel images (float32, N x image_size x image_size x 3) from files, center-cropped or
    padded to ``image_size``.

    Training: shuffled, repeated forever, full batches only. Otherwise: one pass in order,
    with the indices of the images (N,) as a second output.
    """
    indices = tf.data.Dataset.range(len(image_paths))
    paths = tf.data.Dataset.from_tensor_slices(tf.constant(list(image_paths)))
    dataset = tf.data.Dataset.zip((paths, indices))
    if training:
        dataset = dataset.shuffle(len(image_paths), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.repeat()

    def load(path, index):
        image = input_pipeline.decode_image(path)
        image = tf.image.resize_with_crop_or_pad(image, image_size, image_size)
        return tf.cast(image, tf.float32), index

    dataset = dataset.map(load, num_parallel_calls=tf.data.experimental.AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=training).prefetch(2)
    images, indices = tf.data.make_one_shot_iterator(dataset).get_next()
    images.set_shape([batch_size if training else None, image_size, image_size, 3])
    return (images, None) if training else (images, indices)


def run_input(session, fetches, feed_dict=None):
    """``session.run`` that turns an unreadable image file into a FacenetError."""
    try:
        return session.run(fetches, feed_dict=feed_dict)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError,
            tf.errors.PermissionDeniedError) as error:
        raise FacenetError('cannot read an input image (is every file in the data directory '
                           'a readable image?): %s' % op_error_reason(error)) from None


# -- CelebA attributes ----------------------------------------------------------------------

def read_celeba_attributes(filename):
    """Parse a CelebA ``list_attr_celeba.txt``.

    Layout: the number of images, then the attribute names, then one line per image:
    ``000001.jpg -1 1 1 -1 ...`` (1 = has the attribute, -1 = has not).

    Returns:
        ``(fields, attributes)``: list of attribute names and a dict from the image name
        without extension to an int array of len(fields).

    Raises:
        FacenetError: missing file or a line that does not fit the layout.
    """
    if not os.path.isfile(filename):
        raise FacenetError('attributes file not found: %s' % filename)
    with open(filename) as handle:
        lines = handle.read().splitlines()
    if len(lines) < 2:
        raise FacenetError('%s is not a CelebA attributes file (needs a count line and a '
                           'line of attribute names)' % filename)
    fields = lines[1].split()
    attributes = {}
    for line_number, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(fields) + 1:
            raise FacenetError('%s:%d: expected an image name and %d values, found %d values'
                               % (filename, line_number, len(fields), len(parts) - 1))
        try:
            values = np.array([int(value) for value in parts[1:]], dtype=np.int64)
        except ValueError:
            raise FacenetError('%s:%d: attribute values must be 1 or -1'
                               % (filename, line_number)) from None
        attributes[image_stem(parts[0])] = values
    return fields, attributes


def image_stem(path):
    """'dir/000001.jpg' -> '000001', the key of an image in the attributes file."""
    return os.path.basename(path).split('.')[0]


def compute_attribute_vectors(latent_vars, attributes):
    """Mean latent code of the images with each attribute minus that of the images without.

    Args:
        latent_vars: (nrof_images, latent_size).
        attributes: (nrof_images, nrof_attributes) of 1 / -1.

    Returns:
        float32 (nrof_attributes, latent_size); zero for an attribute that every image has,
        or none has.
    """
    latent_vars = np.asarray(latent_vars, dtype=np.float64)
    attributes = np.asarray(attributes)
    vectors = np.zeros((attributes.shape[1], latent_vars.shape[1]), np.float32)
    for i in range(attributes.shape[1]):
        positive = attributes[:, i] == 1
        negative = attributes[:, i] == -1
        if positive.any() and negative.any():
            vectors[i] = latent_vars[positive].mean(0) - latent_vars[negative].mean(0)
    return vectors


def write_attribute_file(filename, latent_vars, attributes, fields, attribute_vectors,
                         image_list=None):
    """Write the classic attribute HDF5 file (plus ``image_list`` when given), atomically."""
    with atomic_path(filename) as tmp_path:
        with h5py.File(tmp_path, 'w') as handle:
            handle.create_dataset('latent_vars', data=np.asarray(latent_vars, np.float64))
            handle.create_dataset('attributes', data=np.asarray(attributes, np.float64))
            handle.create_dataset('fields', data=list(fields), dtype=h5py.string_dtype())
            handle.create_dataset('attribute_vectors',
                                  data=np.asarray(attribute_vectors, np.float32))
            if image_list is not None:
                handle.create_dataset('image_list', data=list(image_list),
                                      dtype=h5py.string_dtype())


def read_attribute_file(filename):
    """Read ``(latent_vars, attributes, fields, attribute_vectors)`` of an attribute file.

    Raises:
        FacenetError: missing or unreadable file, or a dataset missing.
    """
    if not os.path.isfile(filename):
        raise FacenetError('attributes file not found: %s' % filename)
    try:
        with h5py.File(filename, 'r') as handle:
            missing = [name for name in ATTRIBUTE_DATASETS if name not in handle]
            if missing:
                raise FacenetError('%s is not an attribute vector file (no dataset %s)'
                                   % (filename, ', '.join(missing)))
            fields = [value.decode() if isinstance(value, bytes) else str(value)
                      for value in handle['fields'][()]]
            return (np.asarray(handle['latent_vars'][()]), np.asarray(handle['attributes'][()]),
                    fields, np.asarray(handle['attribute_vectors'][()]))
    except OSError as error:
        raise FacenetError('cannot read attributes file %s: %s' % (filename, error)) from None


def attribute_sweep(latent_vars, attribute_vector, nrof_steps, max_strength):
    """Latent codes with ``strength * attribute_vector`` added, for strengths
    0, max/nrof_steps, ... (nrof_steps values below max_strength), per image in turn.

    Returns:
        float32 (len(latent_vars) * nrof_steps, latent_size), image-major.
    """
    strengths = max_strength * np.arange(nrof_steps) / nrof_steps
    sweep = (np.asarray(latent_vars)[:, None, :]
             + strengths[None, :, None] * np.asarray(attribute_vector)[None, None, :])
    return sweep.reshape(-1, sweep.shape[-1]).astype(np.float32)
