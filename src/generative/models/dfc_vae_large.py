"""The DFC variational autoencoder (see dfc_vae.py) for 128 x 128 faces: one more
stride-2 convolution in the encoder (512 channels) and one more upsampling in the decoder.
"""
from generative.models.vae_base import DECODER_SCOPE, ENCODER_SCOPE, Vae as VaeBase
from generative.models.vae_base import leaky_relu, upsample
from toolkit.tf_compat import tf


class Vae(VaeBase):

    def __init__(self, latent_variable_dim):
        super().__init__(latent_variable_dim, 128)

    def encoder(self, images, is_training):
        layers = self.layers(is_training)
        with tf.variable_scope(ENCODER_SCOPE):
            net = images
            # 64 x 64 x 32 -> 32 x 32 x 64 -> 16 x 16 x 128 -> 8 x 8 x 256 -> 4 x 4 x 512
            for index, depth in enumerate((32, 64, 128, 256, 512)):
                net = layers.conv2d(net, depth, 4, 2, scope='Conv2d_%d' % (index + 1),
                                    activation_fn=leaky_relu)
            return self.latent_heads(layers, net)

    def decoder(self, latent_var, is_training):
        layers = self.layers(is_training)
        with tf.variable_scope(DECODER_SCOPE):
            # 4 x 4 x 256
            net = self.latent_to_grid(layers, latent_var)
            # 8 x 8 x 128 -> 16 x 16 x 64 -> 32 x 32 x 32 -> 64 x 64 x 3
            for index, (size, depth) in enumerate(((8, 128), (16, 64), (32, 32), (64, 3))):
                net = upsample(net, size, 'Upsample_%d' % (index + 1))
                net = layers.conv2d(net, depth, 3, 1, scope='Conv2d_%d' % (index + 1),
                                    activation_fn=leaky_relu)
            # 128 x 128 x 3
            net = upsample(net, 128, 'Upsample_5')
            return layers.conv2d(net, 3, 3, 1, scope='Conv2d_5', activation_fn=None)
