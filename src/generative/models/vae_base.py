"""Base class of the variational autoencoders: an encoder and a decoder.

A VAE definition module (``vae_def``) provides a ``Vae(latent_variable_dim)`` class with

- ``encoder(images, is_training)``: N x S x S x 3 normalized images -> ``(mean,
  log_variance)`` of the latent distribution, each N x latent_variable_dim;
- ``decoder(latent_var, is_training)``: N x latent_variable_dim -> N x S x S x 3 normalized
  images;
- ``get_image_size()``: S.

Variables live under the scopes ``encoder/`` and ``decoder/`` with slim's names
(``Conv2d_1/weights``, ``Conv2d_1/BatchNorm/moving_mean``, ``Fc_1/biases``...), so the classic
VAE checkpoints restore by name. Batch norm uses the classic settings (decay 0.995, epsilon
0.001, moving statistics updated in place). Kernels start from Glorot-uniform values where the
classic models drew them from a truncated normal (stddev 0.1); with batch norm after every
convolution this only changes the starting point.
"""
from toolkit.nets.layers import Layers
from toolkit.tf_compat import tf

ENCODER_SCOPE = 'encoder'
DECODER_SCOPE = 'decoder'


def leaky_relu(x):
    """max(0.1 x, x), the activation of the DFC-VAE models."""
    return tf.maximum(0.1 * x, x)


class Vae:
    """A VAE for ``image_size`` x ``image_size`` images with a ``latent_variable_dim`` code."""

    def __init__(self, latent_variable_dim, image_size):
        self.latent_variable_dim = latent_variable_dim
        self.image_size = image_size

    def encoder(self, images, is_training):
        """Return ``(mean, log_variance)``, each N x latent_variable_dim."""
        raise NotImplementedError

    def decoder(self, latent_var, is_training):
        """Return N x image_size x image_size x 3 normalized images."""
        raise NotImplementedError

    def get_image_size(self):
        return self.image_size

    # -- helpers for the subclasses ---------------------------------------------------------
    @staticmethod
    def layers(is_training):
        """Layer factory with the classic VAE batch-norm settings and no weight decay."""
        return Layers(is_training, weight_decay=0.0)

    def latent_heads(self, layers, net):
        """Flatten ``net`` and project it to the latent mean and log variance (Fc_1, Fc_2)."""
        net = tf.reshape(net, [-1, _flat_size(net)])
        mean = layers.fully_connected(net, self.latent_variable_dim, scope='Fc_1',
                                      normalize=False)
        log_variance = layers.fully_connected(net, self.latent_variable_dim, scope='Fc_2',
                                              normalize=False)
        return mean, log_variance

    @staticmethod
    def latent_to_grid(layers, latent_var):
        """Project the latent code to a 4 x 4 x 256 grid (Fc_1), the decoders' first step."""
        net = layers.fully_connected(latent_var, 4096, scope='Fc_1', normalize=False)
        return tf.reshape(net, [-1, 4, 4, 256], name='Reshape')


def upsample(net, size, name):
    """Nearest-neighbour upsampling to ``size`` x ``size``."""
    return tf.image.resize_nearest_neighbor(net, size=(size, size), name=name)


def _flat_size(net):
    size = 1
    for dim in net.get_shape().as_list()[1:]:
        size *= dim
    return size
