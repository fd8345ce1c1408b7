"""Variational autoencoder for 64 x 64 faces after "Deep Feature Consistent Variational
Autoencoder" (Hou et al., 2016, arXiv:1610.00291).

Encoder: four 4 x 4 stride-2 convolutions (32, 64, 128, 256 channels) and two dense heads;
decoder: a dense layer to 4 x 4 x 256, then four nearest-neighbour upsamplings each
followed by a 3 x 3 convolution.
"""
from generative.models.vae_base import DECODER_SCOPE, ENCODER_SCOPE, Vae as VaeBase
from generative.models.vae_base import leaky_relu, upsample
from toolkit.tf_compat import tf


class Vae(VaeBase):

    def __init__(self, latent_variable_dim):
        super().__init__(latent_variable_dim, 64)

    def encoder(self, images, is_training):
        layers = self.layers(is_training)
        with tf.variable_scope(ENCODER_SCOPE):
            # 32 x 32 x 32
            net = layers.conv2d(images, 32, 4, 2, scope='Conv2d_1', activation_fn=leaky_relu)
            # 16 x 16 x 64
            net = layers.conv2d(net, 64, 4, 2, scope='Conv2d_2', activation_fn=leaky_relu)
            # 8 x 8 x 128
            net = layers.conv2d(net, 128, 4, 2, scope='Conv2d_3', activation_fn=leaky_relu)
            # 4 x 4 x 256
            net = layers.conv2d(net, 256, 4, 2, scope='Conv2d_4', activation_fn=leaky_relu)
            return self.latent_heads(layers, net)

    def decoder(self, latent_var, is_training):
        layers = self.layers(is_training)
        with tf.variable_scope(DECODER_SCOPE):
            # 4 x 4 x 256
            net = self.latent_to_grid(layers, latent_var)
            # 8 x 8 x 128
            net = upsample(net, 8, 'Upsample_1')
            net = layers.conv2d(net, 128, 3, 1, scope='Conv2d_1', activation_fn=leaky_relu)
            # 16 x 16 x 64
            net = upsample(net, 16, 'Upsample_2')
            net = layers.conv2d(net, 64, 3, 1, scope='Conv2d_2', activation_fn=leaky_relu)
            # 32 x 32 x 32
            net = upsample(net, 32, 'Upsample_3')
            net = layers.conv2d(net, 32, 3, 1, scope='Conv2d_3', activation_fn=leaky_relu)
            # 64 x 64 x 3
            net = upsample(net, 64, 'Upsample_4')
            return layers.conv2d(net, 3, 3, 1, scope='Conv2d_4', activation_fn=None)
