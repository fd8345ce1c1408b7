"""Modify an attribute of faces (e.g. add a smile) with the attribute vectors of
``calculate_attribute_vectors.py``, and write the generated faces as one PNG grid.

For each selected face without the attribute, its latent code plus increasing amounts of
the attribute vector (strengths ``max_strength * i / nrof_interp_steps``) is decoded; each
face's sweep takes ``nrof_interp_steps`` grid cells, two faces per grid row.

    python src/generative/modify_attribute.py generative.models.dfc_vae \\
        ~/vae/20170708-150701/model.ckpt-50000 ~/vae/20170708-150701/attribute_vectors.h5 \\
        ~/vae/20170708-150701/add_smile.png

The defaults reproduce the classic script (attribute 31, 'Smiling'; its twenty faces; ten
strengths from 0 to 4.5); ``--attribute``, ``--image_indices``, ``--nrof_interp_steps`` and
``--max_strength`` make them choosable. The decoder runs in inference mode.
"""
import argparse
import math
import os
import sys

# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)

import numpy as np  # noqa: E402

from generative import vae as vae_lib  # noqa: E402
from toolkit import cli  # noqa: E402
from toolkit.cli.arguments import positive_int, seed_args, vae_args  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402
from toolkit.plotting import save_image_grid  # noqa: E402
from toolkit.session import new_session  # noqa: E402
from toolkit.tf_compat import tf  # noqa: E402

CLASSIC_IMAGE_INDICES = '8,11,13,18,19,25,26,31,36,39,41,47,54,56,57,58,59,60,73,86'


def attribute_index(attribute, fields):
    """Index of ``attribute`` (a name such as 'Smiling', or a number) in ``fields``."""
    if attribute in fields:
        return fields.index(attribute)
    if attribute.isdigit() and int(attribute) < len(fields):
        return int(attribute)
    raise FacenetError('unknown attribute "%s"; the file has %s'
                       % (attribute, ', '.join(fields)))


def parse_indices(text):
    try:
        indices = [int(value) for value in text.replace(' ', '').split(',') if value]
    except ValueError:
        raise FacenetError('--image_indices must be comma separated integers, got "%s"'
                           % text) from None
    if not indices or min(indices) < 0:
        raise FacenetError('--image_indices must list image numbers from 0, got "%s"' % text)
    return indices


def select_faces(attributes, index, image_indices, field):
    """Rows of the ``image_indices``-th faces among those without the attribute."""
    without = np.flatnonzero(attributes[:, index] == -1)
    if max(image_indices) >= len(without):
        raise FacenetError('only %d faces lack the attribute %s; --image_indices asks for '
                           'face %d' % (len(without), field, max(image_indices)))
    return without[image_indices]


def decode(args, vae, latent_vars, vae_checkpoint):
    """Pixel images (N x S x S x 3, not clipped) decoded from latent codes."""
    with tf.Graph().as_default():
        tf.set_random_seed(args.seed)
        latent = tf.placeholder(tf.float32, [None, args.latent_var_size], name='latent_var')
        reconstructed_norm, decoder_variables = vae_lib.created_variables(
            lambda: vae.decoder(latent, False))
        reconstructed = vae_lib.denormalize(reconstructed_norm)
        with new_session() as sess:
            print('Restoring VAE checkpoint: %s' % vae_checkpoint)
            vae_lib.restore_variables(sess, decoder_variables, vae_checkpoint, 'VAE checkpoint')
            return sess.run(reconstructed, feed_dict={latent: latent_vars})


def main(args):
    vae_checkpoint = vae_lib.find_checkpoint(args.vae_checkpoint, 'VAE checkpoint')
    latent_vars, attributes, fields, attribute_vectors = vae_lib.read_attribute_file(
        os.path.expanduser(args.attributes_filename))
    if latent_vars.shape[1] != args.latent_var_size:
        raise FacenetError('the attributes file has %d-d latent codes, --latent_var_size is %d'
                           % (latent_vars.shape[1], args.latent_var_size))
    index = attribute_index(args.attribute, fields)
    image_indices = parse_indices(args.image_indices)
    faces = select_faces(attributes, index, image_indices, fields[index])
    sweep = vae_lib.attribute_sweep(latent_vars[faces], attribute_vectors[index],
                                    args.nrof_interp_steps, args.max_strength)
    vae = vae_lib.create_vae(args.vae_def, args.latent_var_size)
    images = decode(args, vae, sweep, vae_checkpoint)
    shape = (args.nrof_interp_steps * 2, int(math.ceil(len(faces) / 2)))
    filename = os.path.expanduser(args.output_image_filename)
    print('Writing generated image to %s' % filename)
    save_image_grid(filename, images, shape)
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     parents=[seed_args(), vae_args()])
    parser.add_argument('attributes_filename', type=str,
                        help='The file containing the attribute vectors, as generated by '
                             'calculate_attribute_vectors.py.')
    parser.add_argument('output_image_filename', type=str,
                        help='File to write the generated image to.')
    parser.add_argument('--attribute', type=str, default='Smiling',
                        help='Attribute to add: its name in the attributes file or its index.')
    parser.add_argument('--image_indices', type=str, default=CLASSIC_IMAGE_INDICES,
                        help='Comma separated indices of the faces to modify, counted among the '
                             'faces without the attribute.')
    parser.add_argument('--nrof_interp_steps', type=positive_int, default=10,
                        help='Number of strengths of the attribute vector per face.')
    parser.add_argument('--max_strength', type=float, default=5.0,
                        help='Strength the sweep approaches (strength i is max_strength * i / '
                             'nrof_interp_steps).')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
