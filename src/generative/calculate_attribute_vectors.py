"""Calculate attribute vectors: for each CelebA attribute, the mean latent code of the faces
that have it minus that of the faces that have not.

Writes an HDF5 file with the classic datasets ``latent_vars`` (one row per image),
``attributes`` (1 / -1 per image and attribute), ``fields`` (attribute names) and
``attribute_vectors`` (one row per attribute), plus ``image_list``.

    python src/generative/calculate_attribute_vectors.py generative.models.dfc_vae \\
        ~/vae/20170708-150701/model.ckpt-50000 ~/datasets/celeba/img_celeba_mtcnnpy_182 \\
        ~/datasets/celeba/list_attr_celeba.txt ~/vae/20170708-150701/attribute_vectors.h5

Differences from the classic script: the latent code of an image is the encoder's mean
(the classic script stored one random sample of the latent distribution) and the encoder
runs in inference mode (moving batch-norm statistics, not those of the batch), so results
do not depend on the batch or on chance; ``--image_size`` is the centre-crop size of the
input images (the classic script always cropped to 160 pixels and failed unless
``--image_size 160`` was given, so 160 is the default here); images without annotation are
skipped with a warning instead of stopping the run; ``vae_checkpoint`` may be a folder.
"""
import argparse
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
from toolkit.data.folders import get_dataset, get_image_paths, get_image_paths_and_labels  # noqa: E402
from toolkit.errors import FacenetError  # noqa: E402
from toolkit.progress import Progress  # noqa: E402
from toolkit.session import new_session  # noqa: E402
from toolkit.tf_compat import tf  # noqa: E402


def list_images(data_dir):
    """Image paths in ``data_dir`` (flat, as CelebA), or in its class folders."""
    data_dir = os.path.expanduser(data_dir)
    if not os.path.isdir(data_dir):
        raise FacenetError('data directory not found: %s' % data_dir)
    paths = get_image_paths(data_dir)
    if not paths:
        paths, _ = get_image_paths_and_labels(get_dataset(data_dir))
    return paths


def annotated_images(image_list, annotations):
    """The images with an annotation line, and their attribute rows."""
    kept = [path for path in image_list if vae_lib.image_stem(path) in annotations]
    if len(kept) < len(image_list):
        print('warning: %d of %d images have no line in the attributes file and are skipped'
              % (len(image_list) - len(kept), len(image_list)), file=sys.stderr)
    if not kept:
        raise FacenetError('none of the images is listed in the attributes file')
    return kept, np.stack([annotations[vae_lib.image_stem(path)] for path in kept])


def encode_images(args, vae, image_list, vae_checkpoint):
    """The encoder's latent mean for every image, (nrof_images, latent_var_size)."""
    gen_image_size = vae.get_image_size()
    with tf.Graph().as_default():
        tf.set_random_seed(args.seed)
        images, indices = vae_lib.image_batches(image_list, args.image_size, args.batch_size,
                                                training=False)
        images_norm = tf.image.resize_images(vae_lib.normalize(images),
                                             (gen_image_size, gen_image_size))
        (mean, _), encoder_variables = vae_lib.created_variables(
            lambda: vae.encoder(images_norm, False))
        latent_vars = np.zeros((len(image_list), args.latent_var_size))
        with new_session() as sess:
            print('Restoring VAE checkpoint: %s' % vae_checkpoint)
            vae_lib.restore_variables(sess, encoder_variables, vae_checkpoint, 'VAE checkpoint')
            nrof_done = 0
            with Progress(len(image_list), 'Encoding') as progress:
                while True:
                    try:
                        mean_, indices_ = vae_lib.run_input(sess, [mean, indices])
                    except tf.errors.OutOfRangeError:
                        break
                    latent_vars[indices_] = mean_
                    nrof_done += len(indices_)
                    progress(nrof_done, len(image_list))
    return latent_vars


def main(args):
    vae_checkpoint = vae_lib.find_checkpoint(args.vae_checkpoint, 'VAE checkpoint')
    fields, annotations = vae_lib.read_celeba_attributes(
        os.path.expanduser(args.annotations_filename))
    image_list, attributes = annotated_images(list_images(args.data_dir), annotations)
    vae = vae_lib.create_vae(args.vae_def, args.latent_var_size)
    latent_vars = encode_images(args, vae, image_list, vae_checkpoint)
    attribute_vectors = vae_lib.compute_attribute_vectors(latent_vars, attributes)
    filename = os.path.expanduser(args.output_filename)
    print('Writing attribute vectors, latent variables and attributes to %s' % filename)
    vae_lib.write_attribute_file(filename, latent_vars, attributes, fields, attribute_vectors,
                                 image_list)
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     parents=[seed_args(), vae_args()])
    parser.add_argument('data_dir', type=str,
                        help='Path to the directory containing aligned face patches for the CelebA '
                             'dataset.')
    parser.add_argument('annotations_filename', type=str,
                        help='Path to the annotations file (list_attr_celeba.txt)')
    parser.add_argument('output_filename', type=str,
                        help='Filename to use for the file containing the attribute vectors.')
    parser.add_argument('--batch_size', type=positive_int, default=128,
                        help='Number of images to process in a batch.')
    parser.add_argument('--image_size', type=positive_int, default=160,
                        help='Size (height, width) in pixels the images are centre-cropped to '
                             'before being resized to the VAE input size.')
    return parser.parse_args(argv)


if __name__ == '__main__':
    cli.run(main, parse_arguments)
