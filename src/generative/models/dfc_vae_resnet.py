"""The DFC variational autoencoder (see dfc_vae.py) for 64 x 64 faces with residual blocks:
each resolution step is followed by three convolutions added to their input scaled by 0.1.
"""
from generative.models.vae_base import DECODER_SCOPE, ENCODER_SCOPE, Vae as VaeBase
from generative.models.vae_base import leaky_relu, upsample
from toolkit.tf_compat import tf

RESIDUAL_SCALE = 0.1
NROF_RESIDUAL_CONVS = 3


def residual_convs(layers, net, depth, kernel_size, scope):
    """``net += 0.1 * conv(net)`` three times, as ``<scope>/<scope>_1 .. _3``."""
    with tf.variable_scope(scope):
        for index in range(NROF_RESIDUAL_CONVS):
            net = net + RESIDUAL_SCALE * layers.conv2d(
                net, depth, kernel_size, 1, scope='%s_%d' % (scope, index + 1),
                activation_fn=leaky_relu)
    return net


class Vae(VaeBase):

    def __init__(self, latent_variable_dim):
        super().__init__(latent_variable_dim, 64)

    def encoder(self, images, is_training):
        layers = self.layers(is_training)
        with tf.variable_scope(ENCODER_SCOPE):
            net = images
            # 32 x 32 x 32 -> 16 x 16 x 64 -> 8 x 8 x 128 -> 4 x 4 x 256
            for index, depth in enumerate((32, 64, 128, 256)):
                net = layers.conv2d(net, depth, 4, 2, scope='Conv2d_%da' % (index + 1),
                                    activation_fn=leaky_relu)
                net = residual_convs(layers, net, depth, 4, 'Conv2d_%db' % (index + 1))
            return self.latent_heads(layers, net)

    def decoder(self, latent_var, is_training):
        layers = self.layers(is_training)
        with tf.variable_scope(DECODER_SCOPE):
            # 4 x 4 x 256
            net = self.latent_to_grid(layers, latent_var)
            # 8 x 8 x 128 -> 16 x 16 x 64 -> 32 x 32 x 32 -> 64 x 64 x 3
            for index, (size, depth) in enumerate(((8, 128), (16, 64), (32, 32), (64, 3))):
                net = upsample(net, size, 'Upsample_%d' % (index + 1))
                net = layers.conv2d(net, depth, 3, 1, scope='Conv2d_%da' % (index + 1),
                                    activation_fn=leaky_relu)
                net = residual_convs(layers, net, depth, 3, 'Conv2d_%db' % (index + 1))
            return layers.conv2d(net, 3, 3, 1, scope='Conv2d_4c', activation_fn=None)
